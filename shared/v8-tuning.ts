// Imported first by both programs' main.ts, before any of our code is compiled: how soon V8
// optimizes a hot function, set with DFS_V8_INTERRUPT_BUDGET (bytes of bytecode run between two
// checks; default 8192; 0: V8's own default, 66 KB). A node's hot path at one small write at a
// time is called about a hundred times a second and stays in V8's baseline tier for minutes at
// V8's default. Measured with 3 nodes on 2 cores (README, Performance): 8192 takes about a fifth
// off the CPU of a write at concurrency 1 and gives about 20 % more writes per second. It once
// cost large downloads 15–20 %; that was the garbage of a Buffer per chunk read, gone since chunks
// are read into reused buffers (downloads alike with and without it in alternating runs).
import v8 from 'node:v8';

const fromEnv = process.env.DFS_V8_INTERRUPT_BUDGET;
const interruptBudgetDefault = 8192;
const budget = fromEnv === undefined || fromEnv === '' ? interruptBudgetDefault : Number(fromEnv);
if (!Number.isSafeInteger(budget) || budget < 0) {
  process.stderr.write(`DFS_V8_INTERRUPT_BUDGET must be a whole number of bytes (0: V8's default), got ${JSON.stringify(fromEnv)}\n`);
  process.exit(2);
}
if (budget > 0) v8.setFlagsFromString(`--interrupt-budget=${budget}`);
