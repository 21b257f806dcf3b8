// Profiles one large upload and download: a 3-node cluster and a gateway run under
// `node --cpu-prof`, a file of --mib MiB goes up through the gateway (or --to leader), comes down
// from a follower and through the gateway, then every process stops and the profiles are summed
// up (self time per function, top 25 per process) and left in --out for Chrome DevTools.
//   npx tsx scripts/bench/profile-transfer.ts --mib 512 --out bench/profile [--to gateway|leader]
//     [--node-flags --upload-window-chunks,8] [--profile no]
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { GatewayCluster } from '../../test/support/gateway-cluster.ts';
import { defaultNodeFlags } from './data-path-bench.ts';
import { mbPerSecond, MiB } from './common.ts';
import { seededBytes } from './seeded-bytes.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const size = Number(arg('mib', '512')) * MiB;
const out = path.resolve(arg('out', 'bench/profile'));
const to = arg('to', 'gateway');
/** Extra node flags, comma-separated: --node-flags=--upload-window-chunks,8 */
const nodeFlags = arg('node-flags', '').split(',').filter(Boolean);
const profile = arg('profile', 'yes') !== 'no';
/** NODE_OPTIONS for the nodes and the gateway when not profiling (e.g. V8 heap flags). */
const nodeOptions = arg('node-options', '');
fs.rmSync(out, { recursive: true, force: true });
const dirs = { nodes: path.join(out, 'nodes'), gateway: path.join(out, 'gateway') };
for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
// --cpu-prof is not allowed in NODE_OPTIONS: a preloaded module runs the same profiler.
const preload = fileURLToPath(new URL('./cpu-profile-preload.mjs', import.meta.url));
const prof = (dir: string) => ({ NODE_OPTIONS: `--import ${preload}`, DFS_CPU_PROFILE_DIR: dir });

const cluster = await GatewayCluster.start({ storage: { flags: [...defaultNodeFlags, ...nodeFlags], ...(profile ? { env: prof(dirs.nodes) } : nodeOptions !== '' ? { env: { NODE_OPTIONS: nodeOptions } } : {}) }, ...(profile ? { gatewayEnv: prof(dirs.gateway) } : nodeOptions !== '' ? { gatewayEnv: { NODE_OPTIONS: nodeOptions } } : {}) });
const agent = new Agent({ connections: 1, headersTimeout: 0, bodyTimeout: 0 });
try {
  const leaderId = await cluster.waitForLeader();
  const leader = cluster.storage.node(leaderId);
  const follower = cluster.storage.nodes.find((n) => n.id !== leaderId)!;
  const origin = to === 'leader' ? leader.url : cluster.url;
  for (const node of cluster.storage.nodes) {
    const status = node.child?.pid === undefined ? '' : fs.readFileSync(`/proc/${node.child.pid}/status`, 'utf8');
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    const memory = metrics.split('\n').filter((l) => /^(process_resident_memory_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes) /.test(l));
    console.log(`${node.id} idle ${/VmRSS:.*/.exec(status)?.[0] ?? ''} ${memory.map((l) => `${l.split(' ')[0]} ${(Number(l.split(' ')[1]) / MiB).toFixed(1)} MiB`).join(', ')}`);
  }
  let t0 = performance.now();
  const up = await request(`${origin}/files/profile.bin`, { method: 'PUT', dispatcher: agent, body: Readable.from(seededBytes('profile', size), { objectMode: false }), headers: { 'content-length': String(size) } });
  const text = await up.body.text();
  if (up.statusCode !== 201) throw new Error(`upload answered ${up.statusCode}: ${text}`);
  console.log(`upload to ${to} (${leaderId} leads): ${mbPerSecond(size, performance.now() - t0)} MB/s`);
  for (const [what, url] of [['follower ' + follower.id, follower.url], ['gateway', cluster.url]]) {
    t0 = performance.now();
    const res = await request(`${url}/files/profile.bin`, { dispatcher: agent });
    let n = 0;
    for await (const piece of res.body) n += (piece as Buffer).length;
    if (n !== size) throw new Error(`download from ${what}: ${n} bytes of ${size}`);
    console.log(`download from ${what}: ${mbPerSecond(size, performance.now() - t0)} MB/s`);
  }
  for (const node of cluster.storage.nodes) {
    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    const memory = metrics.split('\n').filter((l) => /^(process_resident_memory_bytes|nodejs_heap_size_total_bytes|nodejs_external_memory_bytes) /.test(l));
    console.log(`${node.id} now: ${memory.map((l) => `${l.split(' ')[0]} ${(Number(l.split(' ')[1]) / MiB).toFixed(1)} MiB`).join(', ')}`);
    const status = node.child?.pid === undefined ? '' : fs.readFileSync(`/proc/${node.child.pid}/status`, 'utf8');
    console.log(`${node.id} ${/VmHWM:.*/.exec(status)?.[0] ?? ''}`);
  }
  for (const id of [leaderId, follower.id]) {
    const metrics = await (await fetch(`${cluster.storage.node(id).url}/metrics`)).text();
    const lines = metrics.split('\n').filter((l) => l.startsWith('dfs_chunk_stage_duration_seconds_sum') || l.startsWith('dfs_chunk_stage_duration_seconds_count'));
    if (lines.length > 0) console.log(`${id} chunk stages:\n  ${lines.join('\n  ')}`);
  }
} finally {
  await agent.close();
  await cluster.stopAll();
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }
for (const [what, dir] of Object.entries(dirs)) {
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<string, number>();
    let total = 0;
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)!.callFrame;
      const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.lineNumber + 1}`;
      const dt = profile.timeDeltas[i] ?? 0;
      self.set(key, (self.get(key) ?? 0) + dt);
      total += dt;
    });
    const idle = self.get('(idle) :0') ?? 0;
    console.log(`\n${what} ${file}: ${(total / 1e6).toFixed(1)} s sampled, ${((total - idle) / 1e6).toFixed(1)} s busy`);
    for (const [key, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${key}`);
  }
}
