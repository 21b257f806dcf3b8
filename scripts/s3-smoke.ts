// `npm run s3-smoke`: the S3 tools people already use, driven against a local cluster (three
// storage nodes and a gateway, as processes, in a temp dir): Debian's awscli, rclone, s3cmd and
// python3-boto3. Every tool puts files, reads them back and lists them; anything that comes back
// different from what was put, or a tool that fails or warns about a checksum, fails the run
// (exit 1). A tool that is not installed fails it too (exit 1, saying what to install), unless
// --skip-missing is given.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { freePorts, sleep } from '../test/support/cluster.ts';
import { GatewayCluster } from '../test/support/gateway-cluster.ts';

const skipMissing = process.argv.includes('--skip-missing');
const accessKeyId = 'SMOKEROOTKEY';
const secretAccessKey = randomBytes(24).toString('base64url');
const region = 'us-east-1';
/** Above the 8 MiB multipart threshold of awscli and boto3's upload_file. */
const largeFileBytes = 20 * 1024 * 1024 + 12345;

/** Debian's packages install here; a PATH may hold other copies first (pyenv's aws, say). */
function tool(name: string): string | null {
  for (const path of [`/usr/bin/${name}`, `/usr/local/bin/${name}`]) if (existsSync(path)) return path;
  const which = spawnSync('which', [name], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

interface Outcome {
  readonly tool: string;
  readonly step: string;
  readonly ok: boolean;
  readonly detail?: string;
}
const outcomes: Outcome[] = [];

function record(toolName: string, step: string, ok: boolean, detail?: string): void {
  outcomes.push({ tool: toolName, step, ok, ...(detail === undefined ? {} : { detail }) });
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${toolName}: ${step}${detail === undefined ? '' : ` (${detail})`}`);
}

/** Runs a command; returns its output, or records the failure and returns null. */
function run(toolName: string, step: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string): string | null {
  const result = spawnSync(command, args, { env, encoding: 'utf8', input, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  if (result.status !== 0) {
    record(toolName, step, false, `exit ${result.status ?? result.signal}: ${output.trim().split('\n').slice(-5).join(' | ')}`);
    return null;
  }
  if (/md5|checksum|etag/i.test(result.stderr ?? '') && /warn|mismatch|differ/i.test(result.stderr ?? '')) {
    record(toolName, step, false, `warned: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  record(toolName, step, true);
  return output;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every file under `dir` by relative path, with its SHA-256. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(dir, path), sha256File(path));
    }
  };
  walk(dir);
  return out;
}

function compareTrees(toolName: string, step: string, expected: string, got: string): void {
  const a = tree(expected);
  const b = tree(got);
  const problems: string[] = [];
  for (const [name, hash] of a) if (b.get(name) !== hash) problems.push(b.has(name) ? `${name} differs` : `${name} missing`);
  for (const name of b.keys()) if (!a.has(name)) problems.push(`${name} unexpected`);
  record(toolName, step, problems.length === 0, problems.length === 0 ? undefined : problems.slice(0, 5).join(', '));
}

function compareFiles(toolName: string, step: string, expected: string, got: string): void {
  const same = existsSync(got) && statSync(got).size === statSync(expected).size && sha256File(got) === sha256File(expected);
  record(toolName, step, same, same ? undefined : `${got} is not ${expected}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Test files: empty, small, one past the inline limit, odd names, a nested tree, and a large one. */
function makeFiles(dir: string): { tree: string; large: string } {
  const treeDir = join(dir, 'tree');
  mkdirSync(join(treeDir, 'nested', 'deeper'), { recursive: true });
  writeFileSync(join(treeDir, 'empty.txt'), '');
  writeFileSync(join(treeDir, 'small.txt'), 'hello from the smoke test\n');
  writeFileSync(join(treeDir, 'with space & plus+.bin'), randomBytes(3000));
  writeFileSync(join(treeDir, 'ünïcødé.txt'), 'unicode name\n');
  writeFileSync(join(treeDir, 'nested', 'medium.bin'), randomBytes(300 * 1024));
  writeFileSync(join(treeDir, 'nested', 'deeper', 'chunked.bin'), randomBytes(5 * 1024 * 1024 + 7));
  const large = join(dir, 'large.bin');
  writeFileSync(large, randomBytes(largeFileBytes));
  return { tree: treeDir, large };
}

async function main(): Promise<number> {
  const tools = { aws: tool('aws'), rclone: tool('rclone'), s3cmd: tool('s3cmd'), python3: existsSync('/usr/bin/python3') ? '/usr/bin/python3' : tool('python3') };
  const boto3 = tools.python3 !== null && spawnSync(tools.python3, ['-c', 'import boto3'], { encoding: 'utf8' }).status === 0;
  const missing = [
    ...(tools.aws === null ? ['awscli'] : []),
    ...(tools.rclone === null ? ['rclone'] : []),
    ...(tools.s3cmd === null ? ['s3cmd'] : []),
    ...(boto3 ? [] : ['python3-boto3']),
  ];
  if (missing.length > 0) {
    console.log(`not installed: ${missing.join(', ')} (Debian: apt-get install ${missing.join(' ')})`);
    if (!skipMissing) return 1;
  }

  const dir = mkdtempSync(join(tmpdir(), 'dfs-s3-smoke-'));
  const [s3Port] = await freePorts(1);
  const cluster = await GatewayCluster.start({
    gatewayFlags: ['--s3-port', String(s3Port)],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!(await portOpen(s3Port))) {
      if (Date.now() > deadline) throw new Error(`the S3 port ${s3Port} never opened`);
      await sleep(50);
    }
    const endpoint = `http://127.0.0.1:${s3Port}`;
    const files = makeFiles(dir);
    const home = join(dir, 'home');
    mkdirSync(home);
    // No user configuration of any tool is read: only what is set here.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      LANG: 'C.UTF-8',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_DEFAULT_REGION: region,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(home, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'aws-credentials'),
    };
    console.log(`S3 endpoint ${endpoint}; files in ${dir}`);

    if (tools.aws !== null) awsSteps(tools.aws, endpoint, env, files, dir);
    if (tools.rclone !== null) rcloneSteps(tools.rclone, endpoint, env, files, dir);
    if (tools.s3cmd !== null) s3cmdSteps(tools.s3cmd, s3Port, env, files, dir, home);
    if (boto3 && tools.python3 !== null) boto3Steps(tools.python3, endpoint, env, files, dir);
  } finally {
    await cluster.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const failed = outcomes.filter((o) => !o.ok);
  console.log(`\n${outcomes.length - failed.length} of ${outcomes.length} steps passed${failed.length > 0 ? `; failed: ${failed.map((o) => `${o.tool}: ${o.step}`).join('; ')}` : ''}`);
  return failed.length > 0 || (missing.length > 0 && !skipMissing) ? 1 : 0;
}

function awsSteps(aws: string, endpoint: string, env: NodeJS.ProcessEnv, files: { tree: string; large: string }, dir: string): void {
  const s3 = (step: string, ...args: string[]) => run('awscli', step, aws, ['--endpoint-url', endpoint, 's3', ...args], env);
  s3('mb', 'mb', 's3://smoke-aws');
  s3('cp a small file', 'cp', join(files.tree, 'small.txt'), 's3://smoke-aws/one/small.txt');
  s3('cp it back', 'cp', 's3://smoke-aws/one/small.txt', join(dir, 'aws-small.txt'));
  compareFiles('awscli', 'small file round trip', join(files.tree, 'small.txt'), join(dir, 'aws-small.txt'));
  s3(`cp a ${largeFileBytes}-byte file (multipart)`, 'cp', files.large, 's3://smoke-aws/large.bin');
  s3('cp the large file back', 'cp', 's3://smoke-aws/large.bin', join(dir, 'aws-large.bin'));
  compareFiles('awscli', 'large file round trip', files.large, join(dir, 'aws-large.bin'));
  s3('sync a tree up', 'sync', files.tree, 's3://smoke-aws/tree/');
  const back = join(dir, 'aws-tree');
  s3('sync it down', 'sync', 's3://smoke-aws/tree/', back);
  compareTrees('awscli', 'synced tree is the same', files.tree, back);
  const again = s3('sync again uploads nothing', 'sync', files.tree, 's3://smoke-aws/tree/');
  if (again !== null) record('awscli', 'second sync had nothing to do', !/upload:/.test(again), again.trim().split('\n')[0]);
  const listing = s3('ls --recursive', 'ls', '--recursive', 's3://smoke-aws/');
  if (listing !== null) {
    const expected = [...tree(files.tree).keys()].map((name) => `tree/${name}`);
    const absent = expected.filter((name) => !listing.includes(name));
    record('awscli', 'ls lists every synced file', absent.length === 0, absent.length === 0 ? undefined : `absent: ${absent.join(', ')}`);
  }
  s3('rm --recursive', 'rm', '--recursive', 's3://smoke-aws/');
  const empty = s3('ls after rm', 'ls', '--recursive', 's3://smoke-aws/');
  if (empty !== null) record('awscli', 'nothing left after rm', empty.trim() === '', empty.trim().split('\n')[0]);
  s3('rb', 'rb', 's3://smoke-aws');
}

function rcloneSteps(rclone: string, endpoint: string, base: NodeJS.ProcessEnv, files: { tree: string; large: string }, dir: string): void {
  const env = {
    ...base,
    RCLONE_CONFIG: join(dir, 'rclone.conf'),
    RCLONE_CONFIG_SMOKE_TYPE: 's3',
    RCLONE_CONFIG_SMOKE_PROVIDER: 'Other',
    RCLONE_CONFIG_SMOKE_ACCESS_KEY_ID: accessKeyId,
    RCLONE_CONFIG_SMOKE_SECRET_ACCESS_KEY: secretAccessKey,
    RCLONE_CONFIG_SMOKE_ENDPOINT: endpoint,
    RCLONE_CONFIG_SMOKE_REGION: region,
    RCLONE_CONFIG_SMOKE_FORCE_PATH_STYLE: 'true',
  };
  const rc = (step: string, ...args: string[]) => run('rclone', step, rclone, args, env);
  rc('mkdir', 'mkdir', 'smoke:smoke-rclone');
  rc('copy a tree up', 'copy', files.tree, 'smoke:smoke-rclone/tree');
  rc('check: sizes and MD5s match', 'check', files.tree, 'smoke:smoke-rclone/tree');
  const back = join(dir, 'rclone-tree');
  rc('copy it down', 'copy', 'smoke:smoke-rclone/tree', back);
  compareTrees('rclone', 'copied tree is the same', files.tree, back);
  rc('copy the large file', 'copyto', files.large, 'smoke:smoke-rclone/large.bin');
  rc('check the large file', 'check', dir, 'smoke:smoke-rclone', '--include', 'large.bin');
  writeFileSync(join(files.tree, 'added-later.txt'), 'sync should bring this\n');
  rc('sync a changed tree', 'sync', files.tree, 'smoke:smoke-rclone/tree');
  rc('check after sync', 'check', files.tree, 'smoke:smoke-rclone/tree');
  rmSync(join(files.tree, 'added-later.txt'));
  rc('purge', 'purge', 'smoke:smoke-rclone');
}

function s3cmdSteps(s3cmd: string, port: number, env: NodeJS.ProcessEnv, files: { tree: string; large: string }, dir: string, home: string): void {
  const config = join(home, 's3cfg');
  writeFileSync(config, [
    '[default]',
    `access_key = ${accessKeyId}`,
    `secret_key = ${secretAccessKey}`,
    `host_base = 127.0.0.1:${port}`,
    `host_bucket = 127.0.0.1:${port}`,
    `bucket_location = ${region}`,
    'use_https = False',
    'signature_v2 = False',
    '',
  ].join('\n'));
  const cmd = (step: string, ...args: string[]) => run('s3cmd', step, s3cmd, ['-c', config, ...args], env);
  cmd('mb', 'mb', 's3://smoke-s3cmd');
  cmd('put a small file', 'put', join(files.tree, 'small.txt'), 's3://smoke-s3cmd/small.txt');
  cmd('put a chunked file', 'put', join(files.tree, 'nested', 'deeper', 'chunked.bin'), 's3://smoke-s3cmd/chunked.bin');
  cmd('get the small file', 'get', 's3://smoke-s3cmd/small.txt', join(dir, 's3cmd-small.txt'));
  compareFiles('s3cmd', 'small file round trip', join(files.tree, 'small.txt'), join(dir, 's3cmd-small.txt'));
  cmd('get the chunked file', 'get', 's3://smoke-s3cmd/chunked.bin', join(dir, 's3cmd-chunked.bin'));
  compareFiles('s3cmd', 'chunked file round trip', join(files.tree, 'nested', 'deeper', 'chunked.bin'), join(dir, 's3cmd-chunked.bin'));
  const listing = cmd('ls', 'ls', 's3://smoke-s3cmd/');
  if (listing !== null) record('s3cmd', 'ls lists both files', listing.includes('small.txt') && listing.includes('chunked.bin'), listing.trim());
  cmd('del', 'del', 's3://smoke-s3cmd/small.txt', 's3://smoke-s3cmd/chunked.bin');
  cmd('rb', 'rb', 's3://smoke-s3cmd');
}

const boto3Script = `
import hashlib, os, sys
import boto3
from boto3.s3.transfer import TransferConfig
endpoint, key, secret, region, small, large, out = sys.argv[1:8]
s3 = boto3.client('s3', endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret, region_name=region)
s3.create_bucket(Bucket='smoke-boto3')
data = open(small, 'rb').read()
s3.put_object(Bucket='smoke-boto3', Key='dir/small.txt', Body=data, ContentType='text/plain', Metadata={'origin': 'smoke'})
got = s3.get_object(Bucket='smoke-boto3', Key='dir/small.txt')
assert got['Body'].read() == data, 'small object differs'
assert got['ContentType'] == 'text/plain', got['ContentType']
assert got['ETag'].strip('"') == hashlib.md5(data).hexdigest(), 'ETag is not the MD5: ' + got['ETag']
config = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
s3.upload_file(large, 'smoke-boto3', 'large.bin', Config=config)
s3.download_file('smoke-boto3', 'large.bin', out, Config=config)
assert open(out, 'rb').read() == open(large, 'rb').read(), 'large object differs'
keys = [o['Key'] for o in s3.list_objects_v2(Bucket='smoke-boto3')['Contents']]
assert keys == ['dir/small.txt', 'large.bin'], keys
s3.delete_objects(Bucket='smoke-boto3', Delete={'Objects': [{'Key': k} for k in keys]})
assert s3.list_objects_v2(Bucket='smoke-boto3').get('KeyCount') == 0, 'objects left after delete_objects'
s3.delete_bucket(Bucket='smoke-boto3')
print('boto3 ok')
`;

function boto3Steps(python: string, endpoint: string, env: NodeJS.ProcessEnv, files: { tree: string; large: string }, dir: string): void {
  const script = join(dir, 'boto3-smoke.py');
  writeFileSync(script, boto3Script);
  run('boto3', 'put/get (MD5 ETag, metadata), upload_file/download_file multipart, list, delete_objects', python, [
    script, endpoint, accessKeyId, secretAccessKey, region, join(files.tree, 'small.txt'), files.large, join(dir, 'boto3-large.bin'),
  ], env);
}

process.exitCode = await main();
