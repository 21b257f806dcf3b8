// A port that is taken stops a program with one line that names it (exit 1), not a stack trace:
// the message an operator of `npm start` sees when 8080 or 9000 is already in use.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const EXIT_TIMEOUT_MS = 60_000;

describe('a taken port', () => {
  it('the gateway exits 1 saying which address is in use, without a stack trace', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/src/main.ts', '--id', 'gw1', '--host', '127.0.0.1', '--port', String(port), '--s3-port', '0', '--nodes', 'http://127.0.0.1:1'], {
        cwd: repoRoot,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      clearTimeout(timer);
      assert.equal(code, 1, `exit code; stderr:\n${stderr}`);
      assert.match(stderr, new RegExp(`gateway: cannot start: .*EADDRINUSE.*127\\.0\\.0\\.1:${port}`), stderr);
      assert.doesNotMatch(stderr, /\n\s+at /, `a stack trace was printed:\n${stderr}`);
    } finally {
      blocker.close();
    }
  });
});
