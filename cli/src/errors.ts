// The CLI's failures and the exit code each one gives (0 ok, 1 failed, 2 usage).

export const exitOk = 0;
export const exitFailed = 1;
export const exitUsage = 2;

/** Something went wrong that is not the user's typing: exit 1 with `message` on stderr. */
export class CliFailure extends Error {
  readonly exitCode: number = exitFailed;
}

/** The command line itself is wrong (a bad endpoint URL, a bad name, a bad number): exit 2. */
export class UsageError extends Error {
  readonly exitCode: number = exitUsage;
}

/** The server answered with an error status; `code` and `detail` come from its JSON error when it sent one. */
export class ServerError extends CliFailure {
  constructor(
    readonly status: number,
    readonly code: string | null,
    readonly detail: string | null,
    context: string,
  ) {
    super(`${context}: ${status}${code === null ? '' : ` ${code}`}${detail === null ? '' : `: ${detail}`}`);
  }
}
