// The launcher (`npm start`, scripts/start-cluster.ts) on real processes and free ports (issue 10,
// item 1): a node killed with -9 leaves the other nodes and the gateway serving; the command the
// launcher prints, run as printed from the repo root, brings the node back into the cluster;
// SIGINT stops every process the launcher started; a bad --nodes is a clear error (exit 2).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sleep } from '../support/cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const nodeCount = 3;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports. */
async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let i = 0; i < count && free; i++) free = await portIsFree(base + i);
    if (free) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, deadlineMs: number, check: () => Promise<boolean> | boolean, seen: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms; seen: ${seen()}`);
    await sleep(100);
  }
}

const answers = (url: string) => fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);

/** Runs the launcher and collects what it prints. */
function launch(args: readonly string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start-cluster.ts', ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DFS_CLUSTER_SECRET: undefined },
  });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

describe('npm start (scripts/start-cluster.ts)', () => {
  const cleanups: Array<() => void> = [];
  after(() => {
    for (const cleanup of cleanups.reverse()) cleanup();
  });

  it('rejects a bad --nodes with a clear error and exit code 2', async () => {
    for (const bad of ['0', '10', 'three']) {
      const run = launch(['--nodes', bad]);
      const code = await run.exited;
      assert.equal(code, 2, run.output());
      assert.match(run.output(), /--nodes must be an integer from 1 to 9/);
    }
  });

  it('stops everything and exits 1 when a process cannot start (its port is taken)', async () => {
    const ports = await freeRange(2 * nodeCount + 1);
    const gatewayPort = ports + 2 * nodeCount;
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(gatewayPort, '127.0.0.1', resolve));
    cleanups.push(() => blocker.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'dfs-launcher-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const run = launch([
      '--nodes', String(nodeCount), '--base-client-port', String(ports), '--base-cluster-port', String(ports + nodeCount),
      '--gateway-port', String(gatewayPort), '--data-dir', dataDir, '--s3-port', '0',
    ]);
    const pids = [...run.output().matchAll(/\[launcher\] (\S+) started \(pid (\d+)\)/g)].map((m) => Number(m[2]));
    cleanups.push(() => {
      for (const pid of [run.child.pid, ...pids]) if (pid !== undefined && isRunning(pid)) process.kill(pid, 'SIGKILL');
    });
    const code = await run.exited;
    assert.equal(code, 1, run.output());
    assert.match(run.output(), /gateway failed to start/);
    const children = [...run.output().matchAll(/\[launcher\] (\S+) started \(pid (\d+)\)/g)].map((m) => Number(m[2]));
    assert.equal(children.length, nodeCount + 1, run.output());
    await waitFor('every child gone', 30_000, () => children.every((pid) => !isRunning(pid)), () => children.filter(isRunning).join(', '));
  });

  it('keeps the cluster up when a node is killed, restarts it with the printed command, stops everything on SIGINT', async () => {
    const baseClient = await freeRange(nodeCount);
    const baseCluster = await freeRange(nodeCount);
    const gatewayPort = await freeRange(1);
    const dataDir = mkdtempSync(join(tmpdir(), 'dfs-launcher-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const run = launch([
      '--nodes', String(nodeCount), '--base-client-port', String(baseClient), '--base-cluster-port', String(baseCluster),
      '--gateway-port', String(gatewayPort), '--data-dir', dataDir, '--s3-port', '0',
    ]);
    const pids = () => new Map([...run.output().matchAll(/\[launcher\] (\S+) started \(pid (\d+)\)/g)].map((m) => [m[1], Number(m[2])]));
    cleanups.push(() => {
      for (const pid of [run.child.pid, ...pids().values()]) if (pid !== undefined && isRunning(pid)) process.kill(pid, 'SIGKILL');
    });
    const nodeUrl = (i: number) => `http://127.0.0.1:${baseClient + i}`;
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;

    await waitFor('every node ready', 60_000, async () => (await Promise.all([0, 1, 2].map((i) => answers(`${nodeUrl(i)}/ready`)))).every(Boolean), run.output);
    await waitFor('gateway ready', 30_000, () => answers(`${gatewayUrl}/ready`), run.output);
    const started = pids();
    assert.deepEqual([...started.keys()].sort(), ['gateway', 'n1', 'n2', 'n3']);

    // kill -9 of n2: the launcher reports it and the rest keeps serving.
    process.kill(started.get('n2')!, 'SIGKILL');
    await waitFor('the launcher prints the restart command', 30_000, () => /node n2 exited \(SIGKILL\)/.test(run.output()), run.output);
    const command = /node n2 exited[^\n]*\n {2}(.+)\n/.exec(run.output())?.[1];
    assert.ok(command !== undefined, run.output());
    assert.match(command, /npm run node -- --id n2 /);
    assert.ok(isRunning(run.child.pid!), 'the launcher is still running');
    for (const id of ['n1', 'n3', 'gateway']) assert.ok(isRunning(started.get(id)!), `${id} is still running`);
    await waitFor('n1 and n3 serve', 30_000, async () => (await answers(`${nodeUrl(0)}/ready`)) && (await answers(`${nodeUrl(2)}/ready`)), run.output);
    let stored = 0;
    await waitFor('a write through the gateway', 30_000, async () => {
      const res = await fetch(`${gatewayUrl}/files/after-kill`, { method: 'PUT', body: 'still here' }).catch(() => null);
      stored = res?.status ?? 0;
      return stored === 201;
    }, () => `last status ${stored}`);

    // The printed command, run as printed from the repo root, brings n2 back: it catches up.
    const restarted = spawn('sh', ['-c', command], { cwd: repoRoot, stdio: 'ignore', detached: true });
    cleanups.push(() => {
      try {
        process.kill(-restarted.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
    await waitFor('the restarted n2 is ready', 60_000, () => answers(`${nodeUrl(1)}/ready`), run.output);
    const file = await fetch(`${nodeUrl(1)}/files/after-kill`).then((r) => r.text()); // linearizable: read at the commit index
    assert.equal(file, 'still here', 'n2 caught up on the write it missed');
    process.kill(-restarted.pid!, 'SIGTERM');

    // Ctrl-C: every process the launcher started is gone, then the launcher exits.
    process.kill(run.child.pid!, 'SIGINT');
    const code = await Promise.race([run.exited, sleep(30_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, run.output());
    const stillRunning = [...pids()].filter(([, pid]) => isRunning(pid)).map(([name, pid]) => `${name} (pid ${pid})`);
    assert.deepEqual(stillRunning, []);
  });
});
