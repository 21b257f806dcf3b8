// `dfs`: the command-line tool for files and cluster status. Exit codes: 0 ok, 1 failed (one line
// on stderr saying why), 2 usage (commander's message, or ours for a bad endpoint, name or number).
import { Command, CommanderError } from 'commander';
import { DfsClient, defaultEndpoint } from './client.ts';
import type { Signing } from './client.ts';
import { registerKeyCommands } from './commands/keys.ts';
import { CliFailure, UsageError, exitFailed, exitOk, exitUsage } from './errors.ts';
import type { Action } from './commands/action.ts';
import { registerCatalogCommands } from './commands/catalog.ts';
import { registerClusterCommands } from './commands/cluster.ts';
import { registerMembersCommands } from './commands/members.ts';
import { registerFsckCommand } from './commands/placement.ts';
import { registerStatusCommands } from './commands/status.ts';
import { registerTransferCommands } from './commands/transfer.ts';

interface GlobalOptions {
  readonly endpoint?: string;
  readonly json?: boolean;
  readonly accessKey?: string;
  readonly secretKey?: string;
  readonly region?: string;
}

/** The key requests are signed with, when one is given (flags, else DFS_ACCESS_KEY_ID/DFS_SECRET_ACCESS_KEY). */
function signingOf(globals: GlobalOptions): Signing | null {
  const accessKeyId = globals.accessKey ?? process.env.DFS_ACCESS_KEY_ID;
  const secretAccessKey = globals.secretKey ?? process.env.DFS_SECRET_ACCESS_KEY;
  if ((accessKeyId === undefined || accessKeyId === '') && (secretAccessKey === undefined || secretAccessKey === '')) return null;
  if (accessKeyId === undefined || accessKeyId === '' || secretAccessKey === undefined || secretAccessKey === '') {
    throw new UsageError('an access key needs both its id and its secret: --access-key and --secret-key, or DFS_ACCESS_KEY_ID and DFS_SECRET_ACCESS_KEY');
  }
  return { key: { accessKeyId, secretAccessKey }, region: globals.region ?? process.env.DFS_S3_REGION ?? 'us-east-1' };
}

function buildProgram(): Command {
  const program = new Command('dfs')
    .description('Raft DFS from the command line: files, cluster status and cluster changes')
    .option('--endpoint <url>', `the gateway or any node (env DFS_ENDPOINT; default ${defaultEndpoint})`)
    .option('--json', 'machine output: one JSON document on stdout')
    .option('--access-key <id>', 'sign requests (SigV4) with this access key id, for a cluster with --auth required (env DFS_ACCESS_KEY_ID)')
    .option('--secret-key <secret>', 'its secret (env DFS_SECRET_ACCESS_KEY; prefer the variable: a flag shows in ps)')
    .option('--region <region>', 'the region requests are signed for (env DFS_S3_REGION; default us-east-1)')
    .showHelpAfterError('(dfs --help lists the commands; dfs <command> --help its arguments)')
    .exitOverride();
  const action: Action = (run) => async (...args) => {
    const command = args[args.length - 1] as Command;
    const globals = command.optsWithGlobals<GlobalOptions>();
    const client = new DfsClient(globals.endpoint ?? process.env.DFS_ENDPOINT ?? defaultEndpoint, signingOf(globals));
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
  registerKeyCommands(program, action);
  registerFsckCommand(program, action);
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
