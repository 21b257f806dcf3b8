// `npm start` and the S3 API: the launcher starts the gateway's S3 listener, makes a root key
// when none is given, keeps it in the data directory (mode 0600) so the same key works after a
// restart, and prints the endpoint and the key; the gateway's own output and /status never show
// the secret. One node keeps it short.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { freePorts, sleep } from '../support/cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

interface Launched {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

function launch(args: readonly string[]): Launched {
  const env = { ...process.env };
  for (const name of ['DFS_CLUSTER_SECRET', 'DFS_S3_ACCESS_KEY_ID', 'DFS_S3_SECRET_ACCESS_KEY', 'DFS_S3_PORT']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start-cluster.ts', ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => text, exited };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>, seen: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms; seen:\n${seen()}`);
    await sleep(200);
  }
}

function printedKey(output: string): { accessKeyId: string; secretAccessKey: string } | null {
  const id = /access key id: +(\S+)/.exec(output)?.[1];
  const secret = /secret access key: +(\S+)/.exec(output)?.[1];
  return id === undefined || secret === undefined ? null : { accessKeyId: id, secretAccessKey: secret };
}

describe('npm start with the S3 API', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dfs-s3-launcher-'));
  const running: Launched[] = [];
  after(async () => {
    for (const run of running) if (run.child.exitCode === null && run.child.pid !== undefined) run.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('makes a root key once, keeps it (0600) across restarts, prints it and the endpoint, never logs the secret', async () => {
    const [client, cluster, gateway, s3Port] = await freePorts(4);
    const args = ['--nodes', '1', '--base-client-port', String(client), '--base-cluster-port', String(cluster), '--gateway-port', String(gateway), '--s3-port', String(s3Port), '--data-dir', dataDir];
    const endpoint = `http://127.0.0.1:${s3Port}`;
    const serve = async (): Promise<{ key: { accessKeyId: string; secretAccessKey: string }; run: Launched; buckets: () => Promise<string[]> }> => {
      const run = launch(args);
      running.push(run);
      const key = await waitFor('the banner with the S3 key', 60_000, async () => printedKey(run.output()), run.output);
      assert.match(run.output(), new RegExp(`S3 API: ${endpoint.replace(/[.]/g, '\\.')} `));
      const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...key }, maxAttempts: 1 });
      const buckets = async () => ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name!);
      await waitFor('the S3 API answers with the printed key', 60_000, buckets, run.output);
      return { key, run, buckets };
    };

    const first = await serve();
    const file = join(dataDir, 's3-credentials.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), first.key);
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { ...first.key } });
    await s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    s3.destroy();
    const status = await (await fetch(`http://127.0.0.1:${gateway}/status`)).text();
    assert.ok(!status.includes(first.key.secretAccessKey), 'the gateway /status does not show the secret');
    first.run.child.kill('SIGINT');
    assert.equal(await first.run.exited, 0, first.run.output());
    const processLines = first.run.output().split('\n').filter((line) => /^\[(gateway|n1)\]/.test(line));
    assert.ok(processLines.length > 0);
    assert.ok(processLines.every((line) => !line.includes(first.key.secretAccessKey)), 'no process logged the secret');

    const second = await serve();
    assert.deepEqual(second.key, first.key, 'the same key after a restart');
    assert.deepEqual(await second.buckets(), ['kept']);
    second.run.child.kill('SIGINT');
    assert.equal(await second.run.exited, 0, second.run.output());
  });
});
