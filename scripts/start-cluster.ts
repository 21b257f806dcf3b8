// `npm start`: a local cluster of N storage nodes (default 3; client API on 8081…, cluster ports
// 3030…, data under ./data/n1…) and the gateway on 8080. A node that exits leaves the others and
// the gateway running: the launcher says which one and prints the command that starts it again.
// Ctrl-C (SIGINT/SIGTERM) stops every child by PID and exits once they are all gone.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ConfigError, helpText, integerFlag, optionalStringFlag, parseFlags, stringFlag } from '../shared/flags.ts';
import { programArgs } from './programs.ts';
import type { Program } from './programs.ts';
import { s3Credentials } from './s3-credentials.ts';

/** Children still running this long after the stop signal are killed. */
const stopGraceMs = 10_000;
const nodesMax = 9;

const launcherFlagSpecs = {
  nodes: integerFlag('nodes', 'DFS_START_NODES', 'storage nodes to start', 3, 1, nodesMax),
  voters: integerFlag('voters', 'DFS_START_VOTERS', 'how many of them vote in Raft (the rest join as learners: they store chunks and serve reads); 0: up to 3', 0, 0, nodesMax),
  replication: integerFlag('replication', 'DFS_START_REPLICATION', 'copies of each chunk, set once the cluster is up (0: leave the cluster\'s setting, default 3)', 0, 0, nodesMax),
  host: stringFlag('host', 'DFS_START_HOST', 'address every listener binds to', '127.0.0.1'),
  baseClientPort: integerFlag('base-client-port', 'DFS_START_BASE_CLIENT_PORT', 'client port of n1; n2 gets the next, …', 8081, 1, 65535 - nodesMax),
  baseClusterPort: integerFlag('base-cluster-port', 'DFS_START_BASE_CLUSTER_PORT', 'cluster port of n1; n2 gets the next, …', 3030, 1, 65535 - nodesMax),
  gatewayPort: integerFlag('gateway-port', 'DFS_START_GATEWAY_PORT', 'the gateway\'s port', 8080, 1, 65535),
  s3Port: integerFlag('s3-port', 'DFS_S3_PORT', 'the gateway\'s S3 API port (0: off)', 9000, 0, 65535),
  s3Region: stringFlag('s3-region', 'DFS_S3_REGION', 'the region S3 clients sign for', 'us-east-1'),
  s3Domain: optionalStringFlag('s3-domain', 'DFS_S3_DOMAIN', 'virtual-host style S3: <bucket>.<domain> addresses a bucket'),
  dataDir: stringFlag('data-dir', 'DFS_START_DATA_DIR', 'each node keeps its data in DIR/<id>', './data'),
};

function parseLauncherFlags(argv: readonly string[]) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(helpText('Raft DFS local cluster\n\n  npm start -- --nodes 5', launcherFlagSpecs));
    process.exit(0);
  }
  try {
    return parseFlags(launcherFlagSpecs, argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`start-cluster: ${err.message}\n`);
    process.exit(2);
  }
}

const flags = parseLauncherFlags(process.argv.slice(2));
const { host } = flags;
// Raft voters stay few (3 by default, as etcd advises); more nodes add storage, not votes.
const voterCount = flags.voters === 0 ? Math.min(flags.nodes, 3) : flags.voters;
if (voterCount > flags.nodes) {
  process.stderr.write(`start-cluster: --voters ${voterCount} is more than --nodes ${flags.nodes}\n`);
  process.exit(2);
}
const nodes = Array.from({ length: flags.nodes }, (_, i) => ({
  id: `n${i + 1}`,
  clientPort: flags.baseClientPort + i,
  clusterPort: flags.baseClusterPort + i,
  dataDir: resolve(flags.dataDir, `n${i + 1}`),
}));
// With DFS_TLS_CERT/DFS_TLS_KEY (and DFS_TLS_CA), which the children inherit, every port is HTTPS.
const scheme = process.env.DFS_TLS_CERT !== undefined ? 'https' : 'http';
const founders = nodes.slice(0, voterCount);
const peers = founders.map((n) => `${n.id}=${scheme}://${host}:${n.clientPort}=${scheme}://${host}:${n.clusterPort}`).join(',');
const secret = process.env.DFS_CLUSTER_SECRET ?? randomBytes(32).toString('hex');
// The admin token opens /admin/* (keys, transfer-leader); the gateway reads the access keys with it.
const adminToken = process.env.DFS_ADMIN_TOKEN ?? randomBytes(24).toString('hex');
const childEnv: NodeJS.ProcessEnv = { ...process.env, DFS_CLUSTER_SECRET: secret, DFS_ADMIN_TOKEN: adminToken };
const authRequired = process.env.DFS_AUTH === 'required';
// The S3 root key goes to the gateway only (in its environment: a flag would show in ps).
delete childEnv.DFS_S3_ACCESS_KEY_ID;
delete childEnv.DFS_S3_SECRET_ACCESS_KEY;
let s3Key: ReturnType<typeof s3Credentials> | null = null;
// With --auth required the nodes check signatures too, so they need the root key as well.
if (flags.s3Port !== 0 || authRequired) {
  try {
    s3Key = s3Credentials(process.env, resolve(flags.dataDir));
  } catch (err) {
    process.stderr.write(`start-cluster: ${(err as Error).message}\n`);
    process.exit(2);
  }
}
const gatewayEnv: NodeJS.ProcessEnv = s3Key === null ? childEnv : { ...childEnv, DFS_S3_ACCESS_KEY_ID: s3Key.accessKeyId, DFS_S3_SECRET_ACCESS_KEY: s3Key.secretAccessKey };
const nodeEnv: NodeJS.ProcessEnv = authRequired ? gatewayEnv : childEnv;

/** A word as a POSIX shell reads it back unchanged. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command that starts a node again by hand, from the repo root, exactly as the launcher
 * started it: the same flags, and every DFS_ setting of this environment (the secret included).
 */
function restartCommand(program: 'node' | 'gateway', args: readonly string[]): string {
  const settings = Object.entries(program === 'gateway' ? gatewayEnv : nodeEnv)
    .filter(([key, value]) => key.startsWith('DFS_') && value !== undefined)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${shellQuote(value!)}`);
  return [...settings, 'npm', 'run', program, '--', ...args.map(shellQuote)].join(' ');
}

const children = new Map<string, ChildProcess>();
let stopping = false;
let startFailed = false;

/** Children that printed their start-up line (listening): only after that may one exit alone. */
const started = new Set<string>();
/** Nodes that said they were removed from the cluster: their exit is expected, not a failure. */
const removedNodes = new Set<string>();

function pipe(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream, onLine: (line: string) => void = () => {}): void {
  createInterface({ input: stream }).on('line', (line) => {
    onLine(line);
    out.write(`[${name}] ${line}\n`);
  });
}

function start(name: string, program: Program, args: readonly string[], onExit: (how: string) => void, env: NodeJS.ProcessEnv = childEnv): void {
  const child = spawn(process.execPath, [...programArgs(program), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  children.set(name, child);
  console.log(`[launcher] ${name} started (pid ${child.pid})`);
  // Our programs print one line on stdout once they listen; errors before that go to stderr.
  pipe(name, child.stdout!, process.stdout, (line) => {
    started.add(name);
    if (line.includes('removed from the cluster')) removedNodes.add(name);
  });
  pipe(name, child.stderr!, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(name);
    const how = signal ?? `code ${code}`;
    if (stopping) console.log(`[launcher] ${name} stopped (${how})`);
    else if (!started.has(name)) {
      // A port in use, a bad setting: the cluster the banner describes would not be there.
      console.log(`[launcher] ${name} failed to start (${how}); see its messages above`);
      stopAll();
      startFailed = true;
    } else onExit(how);
    if (children.size === 0) {
      if (!stopping) console.log('[launcher] every process has exited');
      process.exit(stopping && !startFailed ? 0 : 1);
    }
  });
}

for (const [i, n] of nodes.entries()) {
  // The first --voters nodes found the cluster; the others join it as learners (after the first
  // start they find it in their data directory, and --join is ignored).
  const membership = i < voterCount ? ['--peers', peers] : ['--join', `${scheme}://${host}:${founders[0].clientPort}`, '--learner'];
  const args = [
    '--id', n.id, '--host', host,
    '--client-port', String(n.clientPort), '--cluster-port', String(n.clusterPort),
    '--data-dir', n.dataDir, ...membership,
  ];
  start(n.id, 'storage-node', args, (how) => {
    if (removedNodes.has(n.id)) {
      console.log(`[launcher] node ${n.id} was removed from the cluster and exited (${how}); the others and the gateway keep running`);
      return;
    }
    console.log(`[launcher] node ${n.id} exited (${how}); the other nodes and the gateway keep running. Start it again from the repo root with:\n  ${restartCommand('node', args)}`);
  }, nodeEnv);
}
const gatewayUrl = `${scheme}://${host}:${flags.gatewayPort}`;
const gatewayArgs = [
  '--id', 'gw', '--host', host, '--port', String(flags.gatewayPort), '--nodes', nodes.map((n) => `${scheme}://${host}:${n.clientPort}`).join(','),
  '--s3-port', String(flags.s3Port), '--s3-region', flags.s3Region,
  ...(flags.s3Domain === null ? [] : ['--s3-domain', flags.s3Domain]),
];
start('gateway', 'gateway', gatewayArgs, (how) => {
  console.log(`[launcher] the gateway exited (${how}); the nodes keep running. Start it again from the repo root with:\n  ${restartCommand('gateway', gatewayArgs)}`);
}, gatewayEnv);
const s3Url = `${scheme}://${host}:${flags.s3Port}`;
const s3Banner = flags.s3Port === 0 || s3Key === null
  ? '  S3 API: off (--s3-port 0)'
  : `  S3 API: ${s3Url} (path-style, region ${flags.s3Region})
    access key id:     ${s3Key.accessKeyId}
    secret access key: ${s3Key.secretAccessKey}
    (from ${s3Key.source})`;
const s3QuickStart = flags.s3Port === 0 || s3Key === null
  ? ''
  : `
  export AWS_ACCESS_KEY_ID=${s3Key.accessKeyId} AWS_SECRET_ACCESS_KEY=${shellQuote(s3Key.secretAccessKey)} AWS_DEFAULT_REGION=${flags.s3Region}
  aws --endpoint-url ${s3Url} s3 mb s3://photos
  echo 'hello, s3' > hello.txt && aws --endpoint-url ${s3Url} s3 cp hello.txt s3://photos/
  aws --endpoint-url ${s3Url} s3 ls s3://photos/`;

const plainCurl = scheme === 'https' ? `curl --cacert ${shellQuote(process.env.DFS_TLS_CA ?? '<your CA file>')}` : 'curl';
// With --auth required, every native request is signed (curl >= 7.75 signs SigV4 itself).
const curl = authRequired && s3Key !== null ? `${plainCurl} --aws-sigv4 aws:amz:${flags.s3Region}:s3 --user ${s3Key.accessKeyId}:${shellQuote(s3Key.secretAccessKey)}` : plainCurl;
const [first, second = first, third = second] = nodes.map((n) => `${scheme}://${host}:${n.clientPort}`);
console.log(`Raft DFS local cluster
${nodes.map((n, i) => `  ${n.id}: client API ${scheme}://${host}:${n.clientPort}  cluster port ${n.clusterPort}  data ${n.dataDir}${i < voterCount ? '' : '  (learner)'}`).join('\n')}
  gateway: ${gatewayUrl} (one URL for clients: writes go to the leader, reads to the replicas)
  cluster secret (cluster ports; admin routes take it as X-DFS-Cluster-Secret): ${secret}
  admin token (admin routes, dfs keys and dfs cluster: DFS_ADMIN_TOKEN): ${adminToken}
  native API: ${authRequired ? 'signed requests only (DFS_AUTH=required): SigV4 with the root key below or a key from dfs keys create' : 'open (DFS_AUTH=required: signed requests only)'}
${s3Banner}

Quick start:
  ${plainCurl} -s ${first}/status
  ${curl} -s${authRequired ? " -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD'" : ''} -X POST --data-binary 'hello' ${first}/upload/my-first-file.txt
  ${curl} -s ${second}/files
  ${curl} -s ${third}/upload/my-first-file.txt
  ${plainCurl} -s ${gatewayUrl}/status${s3QuickStart}

A node that exits leaves the rest running; the launcher prints the command that restarts it.
Ctrl-C stops the cluster.`);

// --replication: set once a leader answers (through the first node, which forwards to it).
if (flags.replication > 0) void setReplication(flags.replication);

async function setReplication(replication: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  let last = '';
  while (!stopping && Date.now() < deadline) {
    try {
      const response = await fetch(`${first}/admin/settings/replication`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ replication }),
      });
      last = `${response.status} ${await response.text()}`;
      if (response.ok) {
        console.log(`[launcher] replication set to ${replication}: each chunk is stored on ${replication} of the ${nodes.length} nodes`);
        return;
      }
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (!stopping) console.log(`[launcher] could not set replication ${replication} (${last}); try: npm run dfs -- --endpoint ${first} cluster set replication ${replication}`);
}

function signal(child: ChildProcess, name: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, name);
  } catch {
    // Exited between the check and the signal: its exit event follows.
  }
}

function stopAll(): void {
  if (stopping) return;
  stopping = true;
  console.log('[launcher] stopping the cluster');
  for (const child of children.values()) signal(child, 'SIGTERM');
  // A child that hangs is killed after a grace period.
  setTimeout(() => {
    for (const child of children.values()) signal(child, 'SIGKILL');
  }, stopGraceMs).unref();
  if (children.size === 0) process.exit(0);
}
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
