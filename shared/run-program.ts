// The common life of our programs (storage node, gateway): --help, settings parsed with a clear
// error (exit 2), start, and a graceful stop on SIGTERM/SIGINT (exit 0; 1 if it fails or hangs).
import { ConfigError } from './flags.ts';

export interface ProgramSpec<Config, Running extends { stop(): Promise<void> }> {
  /** Used in messages: "storage node", "gateway". */
  readonly name: string;
  readonly help: () => string;
  readonly parse: (argv: readonly string[], env: NodeJS.ProcessEnv) => Config;
  readonly start: (config: Config) => Promise<Running>;
  /** One line saying what runs where, printed once started. */
  readonly describe: (config: Config, running: Running) => string;
  /** Resolves (with the reason) when the program should stop on its own, e.g. a node removed from its cluster. */
  readonly ended?: (running: Running) => Promise<string>;
  /** A stop still running after this long exits 1. */
  readonly stopTimeoutMs?: number;
}

/** A start that cannot go on for a reason the operator must fix (said in one line, exit 1). */
export class StartError extends Error {
  override readonly name: string = 'StartError';
}

/** Errors of binding a listener, answered with a one-line message instead of a stack. */
const listenErrorCodes = new Set(['EADDRINUSE', 'EACCES', 'EADDRNOTAVAIL']);

export async function runProgram<Config, Running extends { stop(): Promise<void> }>(spec: ProgramSpec<Config, Running>): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${spec.help()}\n`);
    process.exit(0);
  }
  let config: Config;
  try {
    config = spec.parse(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${spec.name}: ${err.message}\n`);
    process.exit(2);
  }
  let running: Running;
  try {
    running = await spec.start(config);
  } catch (err) {
    // A port taken or not ours to bind: the operator's to fix, said in one line (exit 1).
    const code = (err as NodeJS.ErrnoException).code;
    if (!(err instanceof StartError) && (code === undefined || !listenErrorCodes.has(code))) throw err;
    process.stderr.write(`${spec.name}: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const label = spec.describe(config, running);
  console.log(label);
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${spec.name}: ${signal}, shutting down`);
    setTimeout(() => process.exit(1), spec.stopTimeoutMs ?? 8000).unref();
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`${spec.name}: shutdown failed:`, err);
        process.exit(1);
      },
    );
  };
  void spec.ended?.(running).then((why) => onSignal(why));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}
