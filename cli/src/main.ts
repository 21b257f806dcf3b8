// `dfs`: the command-line tool for files and cluster status. Exit codes: 0 ok, 1 failed (one line
// on stderr saying why), 2 usage (commander's message, or ours for a bad endpoint, name or number).
import { Command, CommanderError } from 'commander';
import { DfsClient, defaultEndpoint } from './client.ts';
import { CliFailure, UsageError, exitFailed, exitOk, exitUsage } from './errors.ts';
import type { Action } from './commands/action.ts';
import { registerCatalogCommands } from './commands/catalog.ts';
import { registerClusterCommands } from './commands/cluster.ts';
import { registerMembersCommands } from './commands/members.ts';
import { registerStatusCommands } from './commands/status.ts';
import { registerTransferCommands } from './commands/transfer.ts';

function buildProgram(): Command {
  const program = new Command('dfs')
    .description('Raft DFS from the command line: files, cluster status and cluster changes')
    .option('--endpoint <url>', `the gateway or any node (env DFS_ENDPOINT; default ${defaultEndpoint})`)
    .option('--json', 'machine output: one JSON document on stdout')
    .showHelpAfterError('(dfs --help lists the commands; dfs <command> --help its arguments)')
    .exitOverride();
  const action: Action = (run) => async (...args) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals<{ endpoint?: string; json?: boolean }>();
    const client = new DfsClient(globals.endpoint ?? process.env.DFS_ENDPOINT ?? defaultEndpoint);
    try {
      await run({ client, json: globals.json === true }, ...args);
    } finally {
      await client.destroy();
    }
  };
  registerTransferCommands(program, action);
  registerCatalogCommands(program, action);
  registerStatusCommands(program, action);
  registerMembersCommands(program, action);
  registerClusterCommands(program, action);
  return program;
}

async function main(argv: readonly string[]): Promise<number> {
  // A reader that goes away (`dfs cat big | head`) is not a failure of ours.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(exitOk);
    throw err;
  });
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return exitOk;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the message (or the help) already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? exitOk : exitUsage;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`dfs: ${err.message}\n`);
      return exitUsage;
    }
    if (err instanceof CliFailure) {
      process.stderr.write(`dfs: ${err.message}\n`);
      return exitFailed;
    }
    process.stderr.write(`dfs: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return exitFailed;
  }
}

process.exitCode = await main(process.argv.slice(2));
