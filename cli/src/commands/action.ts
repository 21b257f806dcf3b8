// Turns a command function into a commander action: it gets the context (client for the
// endpoint from --endpoint / DFS_ENDPOINT, --json) and the command's arguments and options.
import type { CommandContext } from '../context.ts';

// Commander passes the positional arguments, then the options object, then the Command.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Action = <A extends any[]>(run: (ctx: CommandContext, ...args: A) => Promise<void>) => (...args: A) => Promise<void>;
