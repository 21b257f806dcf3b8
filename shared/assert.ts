/** A broken invariant: the process must stop (fail-stop), never answer and run on. */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError('assertion failed: ' + message);
}

/** EX_SOFTWARE (sysexits.h): the exit status of a process stopped by a broken invariant. */
export const invariantExitCode = 70;

/**
 * Ends the process for a broken invariant that an error handler caught: the state it guarded
 * may be half-changed, so serving on would spread the damage. The message goes to stderr
 * synchronously (a pipe or file on Linux) before the exit.
 */
export function failStop(err: AssertionError, where: string): never {
  process.stderr.write(`fatal: ${where}: ${err.stack ?? err.message}\n`);
  process.exit(invariantExitCode);
}

/** For Hono error handlers: broken invariants stop the process, anything else is answered. */
export function stopOnAssertion(err: unknown, where: string): void {
  if (err instanceof AssertionError) failStop(err, where);
}
