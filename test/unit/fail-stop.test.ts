// Fail-stop: a broken invariant that reaches one of our HTTP error handlers ends the process
// with its message (exit 70) instead of being answered with a 500 while the node runs on with
// half-changed state. Ordinary errors are still answered. Each case runs in its own process.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { invariantExitCode } from '../../shared/assert.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

function run(handler: string, failure: string) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/unit/fixtures/fail-stop-app.ts', handler, failure], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('fail-stop on a broken invariant', () => {
  for (const handler of ['client', 'raft']) {
    it(`the ${handler} error handler ends the process with the assertion's message`, () => {
      const result = run(handler, 'assertion');
      assert.equal(result.status, invariantExitCode, `exit ${result.status}; stdout: ${result.stdout}; stderr: ${result.stderr}`);
      assert.match(result.stderr, /assertion failed: the fixture broke an invariant/);
      assert.doesNotMatch(result.stdout, /answered/, 'the request was answered');
    });

    it(`the ${handler} error handler still answers an ordinary error with 500 and the process runs on`, () => {
      const result = run(handler, 'plain');
      assert.equal(result.status, 0, `exit ${result.status}; stderr: ${result.stderr}`);
      assert.match(result.stdout, /answered 500 .*an ordinary failure/);
    });
  }
});
