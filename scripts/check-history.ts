// CLI: tsx scripts/check-history.ts FILE [--timeout-ms N]
// Exit 0 = linearizable, 1 = not (or timed out), 2 = missing/unreadable/malformed input.
import { readFileSync } from 'node:fs';
import { HistoryFormatError, parseHistory, type HistoryEvent } from '../test/checker/history.ts';
import { checkLinearizable } from '../test/checker/linearizability.ts';

function usage(msg: string): never {
  process.stderr.write(`check-history: ${msg}\nusage: check-history FILE [--timeout-ms N]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): { file: string; timeoutMs?: number } {
  let file: string | undefined;
  let timeoutMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--timeout-ms') {
      timeoutMs = Number(argv[++i]);
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) usage('--timeout-ms needs a positive number');
    } else if (arg.startsWith('-') && arg !== '-') {
      usage(`unknown option ${arg}`);
    } else if (file === undefined) {
      file = arg;
    } else {
      usage('only one FILE may be given');
    }
  }
  if (file === undefined) usage('missing FILE');
  return { file, timeoutMs };
}

function load(file: string): HistoryEvent[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    usage(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    usage(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseHistory(json);
  } catch (err) {
    if (err instanceof HistoryFormatError) usage(`${file} is not a valid history: ${err.message}`);
    throw err;
  }
}

const { file, timeoutMs } = parseArgs(process.argv.slice(2));
const result = checkLinearizable(load(file), { timeoutMs });
process.stdout.write(`linearizable: ${result.linearizable}\n${result.explanation}\n`);
process.exitCode = result.linearizable ? 0 : 1;
