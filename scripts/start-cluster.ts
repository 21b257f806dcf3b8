// `npm start`: a local 3-node cluster (client API on 8081-8083, cluster ports 3030-3032, data under
// ./data/n1..n3) and the gateway on 8080. Ctrl-C stops every child (by PID) and exits once they are gone.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const host = '127.0.0.1';
const nodes = [1, 2, 3].map((i) => ({ id: `n${i}`, clientPort: 8080 + i, clusterPort: 3029 + i, dataDir: `./data/n${i}` }));
const peers = nodes.map((n) => `${n.id}=http://${host}:${n.clientPort}=http://${host}:${n.clusterPort}`).join(',');
const secret = process.env.DFS_CLUSTER_SECRET ?? randomBytes(32).toString('hex');

const children = new Map<string, ChildProcess>();

function pipe(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  createInterface({ input: stream }).on('line', (line) => out.write(`[${name}] ${line}\n`));
}

function start(name: string, script: string, args: string[]): void {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DFS_CLUSTER_SECRET: secret },
  });
  children.set(name, child);
  pipe(name, child.stdout!, process.stdout);
  pipe(name, child.stderr!, process.stderr);
  child.on('exit', (code, signal) => {
    children.delete(name);
    console.log(`[${name}] exited (${signal ?? `code ${code}`})`);
    if (!stopping) stopAll('a node exited');
    if (children.size === 0) process.exit(stoppedCleanly ? 0 : 1);
  });
}

for (const n of nodes) {
  start(n.id, 'storage-node/src/main.ts', [
    '--id', n.id, '--host', host,
    '--client-port', String(n.clientPort), '--cluster-port', String(n.clusterPort),
    '--data-dir', n.dataDir, '--peers', peers,
  ]);
}
// The gateway, on :8080, with the nodes' client URLs as seeds.
start('gateway', 'gateway/src/main.ts', ['--id', 'gw', '--host', host, '--port', '8080', '--nodes', nodes.map((n) => `http://${host}:${n.clientPort}`).join(',')]);

console.log(`Raft DFS local cluster
${nodes.map((n) => `  ${n.id}: client API http://${host}:${n.clientPort}  cluster port ${n.clusterPort}  data ${n.dataDir}`).join('\n')}
  gateway: http://${host}:8080 (one URL for clients: writes go to the leader, reads to the replicas)

Quick start:
  curl -s http://${host}:8081/status
  curl -s -X POST --data-binary 'hello' http://${host}:8081/upload/my-first-file.txt
  curl -s http://${host}:8082/files
  curl -s http://${host}:8083/upload/my-first-file.txt
  curl -s http://${host}:8080/status

Ctrl-C stops the cluster.`);

let stopping = false;
let stoppedCleanly = true;
function stopAll(reason: string): void {
  if (stopping) return;
  stopping = true;
  if (reason !== 'signal') {
    stoppedCleanly = false;
    console.log(`stopping the cluster: ${reason}`);
  }
  for (const child of children.values()) if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
  // A child that hangs is killed after a grace period.
  setTimeout(() => {
    for (const child of children.values()) if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, 10_000).unref();
}
process.on('SIGINT', () => stopAll('signal'));
process.on('SIGTERM', () => stopAll('signal'));
