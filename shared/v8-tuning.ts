// Imported first by both programs' main.ts, before any of our code is compiled: how soon V8
// optimizes a hot function, set with DFS_V8_INTERRUPT_BUDGET (bytes of bytecode run between two
// checks; unset or 0: V8's default, 66 KB). A node's hot path at one small write at a time is
// called about a hundred times a second and stays in V8's baseline tier for minutes at the
// default. Measured with 3 nodes on 2 cores (README, Performance): 8192 takes about 25 % off the
// CPU of a write at concurrency 1 (leader 5.1 → 3.9 ms) and gives 20–28 % more writes per second,
// but large downloads from a node lose 15–20 % of their throughput, so it is not the default.
import v8 from 'node:v8';

const fromEnv = process.env.DFS_V8_INTERRUPT_BUDGET;
const budget = fromEnv === undefined || fromEnv === '' ? 0 : Number(fromEnv);
if (!Number.isSafeInteger(budget) || budget < 0) {
  process.stderr.write(`DFS_V8_INTERRUPT_BUDGET must be a whole number of bytes (0: V8's default), got ${JSON.stringify(fromEnv)}\n`);
  process.exit(2);
}
if (budget > 0) v8.setFlagsFromString(`--interrupt-budget=${budget}`);
