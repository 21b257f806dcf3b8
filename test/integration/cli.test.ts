// The `dfs` command-line tool, run as a user runs it (`node --import tsx cli/src/main.ts …`, a new
// process each time) against a real cluster: three storage nodes with 64 KiB chunks behind one
// gateway, started once for the whole file. Checks what a user would: the bytes that come back
// are the bytes put (SHA-256), the listings and metadata are right, --json parses, and failures
// give exit code 1 (2 for usage) with a message that says what went wrong.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, sleep } from '../support/cluster.ts';
import { GatewayCluster } from '../support/gateway-cluster.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const chunkSize = 64 * 1024;
/** How long one CLI run may take before the test gives up on it, ms. */
const runTimeoutMs = 30_000;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const adminToken = randomBytes(16).toString('hex');

interface RunResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

describe('dfs command-line tool against a real cluster', () => {
  let cluster: GatewayCluster;
  let dir: string;

  /** Runs `dfs <args>` against the gateway (unless args choose another endpoint). */
  function dfs(args: readonly string[], env: Record<string, string> = { DFS_ENDPOINT: cluster.url }): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'cli/src/main.ts', ...args], {
        cwd: repoRoot,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => stdout.push(d));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        reject(new Error(`dfs ${args.join(' ')} did not finish in ${runTimeoutMs} ms; stderr: ${stderr}`));
      }, runTimeoutMs);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(stdout), stderr });
      });
    });
  }

  /** Stores a file through the gateway with plain HTTP: set-up that is not what a test checks. */
  async function putDirect(name: string, content: string): Promise<void> {
    const response = await cluster.storage.fetch(`${cluster.url}/files/${name.split('/').map(encodeURIComponent).join('/')}`, { method: 'PUT', body: content });
    assert.equal(response.status, 201, await response.text());
  }

  /** Runs `dfs <args>`, expects exit 0, and returns stdout as text. */
  async function ok(args: readonly string[]): Promise<string> {
    const result = await dfs(args);
    assert.equal(result.code, 0, `dfs ${args.join(' ')} exited ${result.code}; stderr: ${result.stderr}`);
    return result.stdout.toString();
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dfs-cli-'));
    cluster = await GatewayCluster.start({ storage: { flags: ['--chunk-size', `${chunkSize}`, '--admin-token', adminToken] } });
  });

  after(async () => {
    await cluster?.stopAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('puts a multi-chunk file and gets back the same bytes, to a file and to stdout', async () => {
    const content = randomBytes(5 * chunkSize + 1234);
    const local = join(dir, 'big.bin');
    writeFileSync(local, content);

    const stored = JSON.parse(await ok(['--json', 'put', local, 'cli/big file%.bin'])) as { name: string; size: number; etag: string; chunks: string[] };
    assert.equal(stored.name, 'cli/big file%.bin');
    assert.equal(stored.size, content.length);
    assert.equal(stored.etag, sha256(content));
    assert.equal(stored.chunks.length, 6, 'stored as 64 KiB chunks');

    const copy = join(dir, 'copy.bin');
    const [got, piped] = await Promise.all([ok(['get', 'cli/big file%.bin', copy]), dfs(['get', 'cli/big file%.bin', '-'])]);
    assert.match(got, /wrote .*copy\.bin/);
    assert.equal(sha256(readFileSync(copy)), sha256(content));

    assert.equal(piped.code, 0, piped.stderr);
    assert.equal(piped.stderr, '', 'no progress bar when stderr is not a terminal');
    assert.equal(sha256(piped.stdout), sha256(content));
  });

  it('cat, stat and versions show the content and its metadata; the content type comes from the extension', async () => {
    await putDirect('cli/note.txt', 'first\n');
    const local = join(dir, 'note.txt');
    writeFileSync(local, 'second version\n');
    await ok(['put', local, 'cli/note.txt']);

    const typed = join(dir, 'data.unknownext');
    writeFileSync(typed, '{}');
    const [text, statJson, statHuman, versionsJson, table] = await Promise.all([
      ok(['cat', 'cli/note.txt']),
      ok(['stat', 'cli/note.txt', '--json']),
      ok(['stat', 'cli/note.txt']),
      ok(['versions', 'cli/note.txt', '--json']),
      ok(['versions', 'cli/note.txt']),
      ok(['put', typed, 'cli/typed', '--content-type', 'application/json']),
    ]);
    assert.equal(text, 'second version\n');

    const info = JSON.parse(statJson) as Record<string, unknown>;
    assert.equal(info.size, 'second version\n'.length);
    assert.equal(info.etag, sha256(Buffer.from('second version\n')));
    assert.equal(info.version, 2);
    assert.match(String(info.contentType), /^text\/plain/);
    assert.match(statHuman, /version:\s+2/);

    const versions = JSON.parse(versionsJson) as { versions: { version: number; size: number }[] };
    assert.deepEqual(versions.versions.map((v) => [v.version, v.size]), [[2, 15], [1, 6]]);
    assert.match(table, /^version\s+size/);
    assert.equal(table.trim().split('\n').length, 3, table);

    assert.equal((JSON.parse(await ok(['--json', 'stat', 'cli/typed'])) as { contentType: string }).contentType, 'application/json');
  });

  it('ls pages through the whole listing, in name order, and --limit stops early', async () => {
    const names = ['ls/e', 'ls/a', 'ls/d', 'ls/b', 'ls/c'];
    await Promise.all(names.map((name) => putDirect(name, 'x')));

    const [allJson, human, limited] = await Promise.all([
      ok(['ls', 'ls/', '--page-size', '2', '--json']),
      ok(['ls', 'ls/', '--page-size', '2']),
      dfs(['--json', 'ls', 'ls/', '--limit', '3', '--page-size', '2']),
    ]);
    const all = JSON.parse(allJson) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(all.files.map((f) => f.name), [...names].sort());
    assert.equal(all.next, null);

    assert.deepEqual(human.trim().split('\n').map((line) => line.trim().split(/\s+/).pop()), [...names].sort());

    assert.equal(limited.code, 0, limited.stderr);
    const page = JSON.parse(limited.stdout.toString()) as { files: { name: string }[]; next: string | null };
    assert.deepEqual(page.files.map((f) => f.name), ['ls/a', 'ls/b', 'ls/c']);
    assert.equal(page.next, 'ls/c');
  });

  it('rm deletes; a missing file is exit 1 with the server\'s code and the name', async () => {
    await putDirect('cli/doomed', 'bye');
    assert.deepEqual(JSON.parse(await ok(['rm', 'cli/doomed', '--json'])), { name: 'cli/doomed', removed: true });

    const commands = ['cat', 'stat', 'rm', 'versions'];
    const [get, ...results] = await Promise.all([dfs(['get', 'cli/doomed', join(dir, 'never')]), ...commands.map((command) => dfs([command, 'cli/doomed']))]);
    results.forEach((missing, i) => {
      assert.equal(missing.code, 1, `${commands[i]}: ${missing.stderr}`);
      assert.equal(missing.stdout.length, 0);
      assert.match(missing.stderr, commands[i] === 'versions' ? /^dfs: versions "cli\/doomed": no version of "cli\/doomed" is kept/ : /^dfs: .*"cli\/doomed": 404\b/, commands[i]);
    });
    assert.equal(get.code, 1);
    assert.match(get.stderr, /404 not_found: no file "cli\/doomed"/);
    assert.throws(() => readFileSync(join(dir, 'never')), /ENOENT/, 'a failed get leaves no file');
  });

  it('status shows every member in one table, and --json the gateway\'s /status', async () => {
    const ids = cluster.storage.nodes.map((n) => n.id);
    // The gateway learns the members from its polls: wait until it sees them all healthy.
    const deadline = Date.now() + 30_000;
    let document: { members: { id: string; healthy: boolean }[] };
    for (;;) {
      document = (await (await cluster.storage.fetch(`${cluster.url}/status`)).json()) as typeof document;
      if (document.members.filter((m) => m.healthy).length === ids.length) break;
      assert.ok(Date.now() < deadline, `the gateway never saw ${ids.length} healthy members: ${JSON.stringify(document.members)}`);
      await sleep(250);
    }
    const [table, json] = await Promise.all([ok(['status']), ok(['status', '--json'])]);
    assert.deepEqual((JSON.parse(json) as typeof document).members.map((m) => m.id), ids);
    const lines = table.trim().split('\n');
    assert.match(lines[0], /^leader n\d \(http:/, table);
    assert.match(lines[1], /^member\s+role\s+voter\s+leader\s+term\s+applied\s+lag\s+last contact\s+files\s+bytes\s+zone\s+placement\s+repair \(lost\/move\)\s+health$/, table);
    const rows = lines.slice(2);
    assert.deepEqual(rows.map((row) => row.split(/\s+/)[0]), ids, table);
    assert.equal(rows.filter((row) => /\byes\b/.test(row)).length, 1, table);
    for (const row of rows) assert.match(row, /healthy$/, table);
    for (const row of rows) assert.match(row, /^n\d\s+\S+\s+voter\s/, table);
  });

  it('cluster transfer-leader hands the leadership to the member named, through the gateway; writes go on', async () => {
    const before = await cluster.waitForLeader();
    const target = cluster.storage.nodes.map((n) => n.id).find((id) => id !== before)!;
    const env = { DFS_ENDPOINT: cluster.url, DFS_ADMIN_TOKEN: adminToken };
    const moved = await dfs(['cluster', 'transfer-leader', target], env);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout.toString(), new RegExp(`^${target} leads now \\(took \\d+ ms\\)`));
    // Every member agrees, not only the one that answered.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const leaders = await Promise.all(cluster.storage.nodes.map(async (n) => ((await (await cluster.storage.fetch(`${n.url}/status`)).json()) as { leader_id: string | null }).leader_id));
      if (leaders.every((id) => id === target)) break;
      assert.ok(Date.now() < deadline, `members name ${leaders.join(', ')} as leader, not ${target}`);
      await sleep(100);
    }
    const again = await dfs(['cluster', 'transfer-leader', target, '--json'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(JSON.parse(again.stdout.toString()), { leader: target, changed: false, took_ms: 0 });
    await putDirect('after-transfer.txt', 'still writable');
    assert.equal(await ok(['cat', 'after-transfer.txt']), 'still writable');

    const unknown = await dfs(['cluster', 'transfer-leader', 'n99'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown_member|no member n99/);
    const wrongToken = await dfs(['cluster', 'transfer-leader', before], { ...env, DFS_ADMIN_TOKEN: 'not-the-token' });
    assert.equal(wrongToken.code, 1);
    assert.match(wrongToken.stderr, /unauthorized/);
    const noToken = await dfs(['cluster', 'transfer-leader', before], { DFS_ENDPOINT: cluster.url, DFS_ADMIN_TOKEN: '' });
    assert.equal(noToken.code, 2, noToken.stderr);
    assert.match(noToken.stderr, /admin token/);
  });

  it('an unreachable endpoint is exit 1 with "cannot reach"; usage errors are exit 2', async () => {
    const [closedPort] = await freePorts(1);
    const endpoint = `http://127.0.0.1:${closedPort}`;
    const usages = [['put', 'only-one-argument'], ['ls', '--limit', 'many'], ['stat', 'a/../b']];
    const [unreachable, viaEnv, ...results] = await Promise.all([
      dfs(['ls', '--endpoint', endpoint]),
      dfs(['status'], { DFS_ENDPOINT: endpoint }),
      ...usages.map((args) => dfs(args)),
    ]);
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, new RegExp(`^dfs: cannot reach ${endpoint}: ECONNREFUSED`));
    assert.equal(viaEnv.code, 1);
    assert.match(viaEnv.stderr, /cannot reach/);

    results.forEach((usage, i) => {
      assert.equal(usage.code, 2, `${usages[i].join(' ')}: ${usage.stderr}`);
      assert.notEqual(usage.stderr, '', usages[i].join(' '));
    });
  });
});
