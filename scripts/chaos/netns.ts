// Network namespaces for the chaos run (root with iproute2 only). One control namespace holds a
// bridge, the chaos driver, its clients and the gateway; each node gets a namespace of its own
// with one veth on that bridge and its own address. Every address lives inside namespaces made
// here, so no packet ever leaves them.
//
// A link is cut by giving each end a permanent neighbour entry with a MAC address nobody has:
// frames to the other side go nowhere, silently, as on a real network (a blackhole route would
// fail `connect()` at once instead). The clients in the control namespace still reach every node,
// as Jepsen's clients do. A slow link is an htb qdisc with a tiny rate (the kernel here has no
// netem and no tc filters; the code says so if that changes nothing).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Subnet of the bridge; private to the namespaces, identical in every run (they never meet). */
const subnet = '10.77.0';
const deadMac = '02:00:00:00:00:01';
export const bridgeAddress = `${subnet}.1`;

export function nodeAddress(index: number): string {
  return `${subnet}.${11 + index}`;
}

export function namespaceOf(prefix: string, index: number): string {
  return `${prefix}-n${index + 1}`;
}

export function controlNamespace(prefix: string): string {
  return `${prefix}-ctl`;
}

/** Namespaces of this process's runs are named after its pid, so stale ones can be found. */
export function prefixFor(pid: number): string {
  return `dfschaos${pid}`;
}

async function ip(args: readonly string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

async function quietly(args: readonly string[]): Promise<void> {
  await ip(args).catch(() => undefined);
}

/** Why namespaces cannot be used here, or null when they can (probed by making one). */
export async function netnsUnavailableReason(): Promise<string | null> {
  if (process.platform !== 'linux') return `${process.platform} has no network namespaces`;
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    await run('ip', ['-V'], { timeout: 5_000 });
  } catch {
    return 'iproute2 (`ip`) is not installed';
  }
  const probe = `dfschaosprobe${process.pid}`;
  try {
    await ip(['netns', 'add', probe]);
    await ip(['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']);
    await ip(['-n', probe, 'link', 'add', 'probebr', 'type', 'bridge']);
    return null;
  } catch (err) {
    return `cannot create namespaces, veth pairs or bridges: ${((err as { stderr?: string }).stderr ?? String(err)).trim()}`;
  } finally {
    await quietly(['netns', 'del', probe]);
  }
}

/** Creates the control namespace with its bridge and one namespace per node. */
export async function setupNamespaces(prefix: string, nodes: number): Promise<void> {
  const ctl = controlNamespace(prefix);
  await ip(['netns', 'add', ctl]);
  await ip(['-n', ctl, 'link', 'set', 'lo', 'up']);
  await ip(['-n', ctl, 'link', 'add', 'br0', 'type', 'bridge']);
  await ip(['-n', ctl, 'addr', 'add', `${bridgeAddress}/24`, 'dev', 'br0']);
  await ip(['-n', ctl, 'link', 'set', 'br0', 'up']);
  for (let i = 0; i < nodes; i++) {
    const ns = namespaceOf(prefix, i);
    await ip(['netns', 'add', ns]);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', ctl, 'link', 'add', `vn${i + 1}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['-n', ctl, 'link', 'set', `vn${i + 1}`, 'master', 'br0', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${nodeAddress(i)}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  }
}

/** Namespaces whose name starts with the prefix. */
async function namespacesWith(prefix: string): Promise<string[]> {
  const out = await ip(['netns', 'list']).catch(() => '');
  return out.split('\n').map((line) => line.split(' ')[0]).filter((name) => name.startsWith(`${prefix}-`));
}

/**
 * Kills what still runs inside our namespaces (processes this run started: the nodes, the
 * gateway, the inner driver) and deletes them.
 */
export async function teardownNamespaces(prefix: string): Promise<void> {
  for (const ns of await namespacesWith(prefix)) {
    const pids = (await ip(['netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter((pid) => pid > 0);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await quietly(['netns', 'del', ns]);
  }
}

/** Deletes the namespaces of earlier runs whose process is gone (a run killed with -9). */
export async function sweepStaleNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']).catch(() => '');
  const stale = new Set<string>();
  for (const name of out.split('\n').map((line) => line.split(' ')[0])) {
    const match = /^(dfschaos(\d+))-/.exec(name);
    if (match === null) continue;
    const pid = Number(match[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) stale.add(match[1]);
  }
  for (const prefix of stale) await teardownNamespaces(prefix);
  return [...stale];
}

/** Drops everything between nodes a and b, both ways. */
export async function cutLink(prefix: string, a: number, b: number): Promise<void> {
  await ip(['-n', namespaceOf(prefix, a), 'neigh', 'replace', nodeAddress(b), 'lladdr', deadMac, 'dev', 'eth0', 'nud', 'permanent']);
  await ip(['-n', namespaceOf(prefix, b), 'neigh', 'replace', nodeAddress(a), 'lladdr', deadMac, 'dev', 'eth0', 'nud', 'permanent']);
}

export async function healLink(prefix: string, a: number, b: number): Promise<void> {
  await quietly(['-n', namespaceOf(prefix, a), 'neigh', 'del', nodeAddress(b), 'dev', 'eth0']);
  await quietly(['-n', namespaceOf(prefix, b), 'neigh', 'del', nodeAddress(a), 'dev', 'eth0']);
}

/** Every cut between nodes healed (idempotent). */
export async function healAllLinks(prefix: string, nodes: number): Promise<void> {
  for (let a = 0; a < nodes; a++) for (let b = a + 1; b < nodes; b++) await healLink(prefix, a, b);
}

/** Throttles everything node i sends to `rateKbit` (its answers, its Raft messages, its pushes). */
export async function throttle(prefix: string, index: number, rateKbit: number): Promise<void> {
  const ns = namespaceOf(prefix, index);
  await run('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'handle', '1:', 'htb', 'default', '1'], { timeout: 10_000 });
  await run('ip', ['netns', 'exec', ns, 'tc', 'class', 'replace', 'dev', 'eth0', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', `${rateKbit}kbit`, 'burst', '2k'], { timeout: 10_000 });
}

export async function unthrottle(prefix: string, index: number): Promise<void> {
  await run('ip', ['netns', 'exec', namespaceOf(prefix, index), 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], { timeout: 10_000 }).catch(() => undefined);
}
