// The `placement` section (issue 13): 5 storage nodes at replication 3, nothing inline.
//   spread  `bytes` written straight to the leader as 64 MiB files (seeded streams, 4 at once);
//           once fsck is clean, each node's stored bytes (fsck) against the ideal bytes × 3 / 5,
//           and the write throughput
//   repair  SIGKILL of one follower (nodes run with --dead-after-ms): from the kill until fsck is
//           clean again (every chunk back at 3 copies on the 4 left); the repair rate is the
//           killed node's stored bytes over the time after the leader marked it down (and over
//           the time after the dead-after delay)
import { StorageCluster } from '../../test/support/storage-cluster.ts';
import type { StorageNodeHandle } from '../../test/support/storage-cluster.ts';
import { formatBytes, mbPerSecond, round, sleep } from './common.ts';
import type { Table } from './common.ts';
import { defaultNodeFlags, streamUpload } from './data-path-bench.ts';

export interface PlacementBenchSettings {
  /** Total bytes written (a multiple of fileBytes). */
  readonly bytes: number;
  readonly fileBytes: number;
  readonly concurrency: number;
  readonly nodes: number;
  readonly replication: number;
  /** The nodes' --dead-after-ms: how long the leader waits before marking a silent member down. */
  readonly deadAfterMs: number;
  /** How long fsck may take to come clean (after the writes, and after the kill). */
  readonly cleanTimeoutMs: number;
}

interface FsckMember {
  readonly id: string;
  readonly reachable: boolean;
  readonly down: boolean;
  readonly chunks?: number;
  readonly bytes?: number;
}

interface FsckReport {
  readonly replication: number;
  readonly chunks: number;
  readonly clean: boolean;
  readonly under_replicated: number;
  readonly over_replicated: number;
  readonly misplaced: number;
  readonly missing: number;
  readonly members: readonly FsckMember[];
}

/** How often fsck is asked while waiting (it lists every member's chunks: cheap at these sizes). */
const fsckPollMs = 100;
const GiBytes = (bytes: number) => round(bytes / 1024 ** 3, 3);

export async function benchPlacement(settings: PlacementBenchSettings, table: Table): Promise<Record<string, unknown>> {
  if (settings.bytes % settings.fileBytes !== 0) throw new Error(`placement: ${settings.bytes} bytes is not a whole number of ${settings.fileBytes}-byte files`);
  const cluster = await StorageCluster.start({
    size: settings.nodes,
    flags: [...defaultNodeFlags, '--inline-max', '0', '--dead-after-ms', String(settings.deadAfterMs)],
  });
  const admin = { 'x-dfs-cluster-secret': cluster.secret };
  const fsckVia = async (node: StorageNodeHandle): Promise<FsckReport> => {
    const response = await fetch(`${node.url}/admin/fsck`, { headers: admin });
    if (response.status !== 200) throw new Error(`fsck on ${node.id}: ${response.status} ${(await response.text()).slice(0, 200)}`);
    return (await response.json()) as FsckReport;
  };
  /**
   * Polls fsck until `done` holds; the report, when its answer came and how long that call took
   * (fsck reads every member's chunk list: the call's length is the figure's resolution).
   */
  const waitFsck = async (node: StorageNodeHandle, what: string, done: (r: FsckReport) => boolean): Promise<{ report: FsckReport; at: number; callMs: number }> => {
    const deadline = performance.now() + settings.cleanTimeoutMs;
    let last: FsckReport | string | null = null;
    for (;;) {
      try {
        const asked = performance.now();
        const report = await fsckVia(node);
        if (done(report)) return { report, at: performance.now(), callMs: performance.now() - asked };
        last = report;
      } catch (err) {
        last = (err as Error).message;
      }
      if (performance.now() > deadline) throw new Error(`placement: ${what} not within ${settings.cleanTimeoutMs} ms; last fsck: ${JSON.stringify(last)}`);
      await sleep(fsckPollMs);
    }
  };
  try {
    const leader = await findLeader(cluster);
    const set = await fetch(`${leader.url}/admin/settings/replication`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ replication: settings.replication }),
    });
    if (set.status !== 200) throw new Error(`setting replication ${settings.replication}: ${set.status} ${(await set.text()).slice(0, 200)}`);

    // Spread: 64 MiB files, `concurrency` at a time, each its own seed (no chunk deduplicates).
    const files = settings.bytes / settings.fileBytes;
    let next = 0;
    const writeStarted = performance.now();
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, files) }, async () => {
      while (next < files) {
        const i = next++;
        const put = await streamUpload(`${leader.url}/files/placement/f${i}`, `placement-${i}`, settings.fileBytes);
        if (put.status !== 201) throw new Error(`placement: PUT f${i} to the leader: ${put.status} ${put.text.slice(0, 200)}`);
      }
    }));
    const writeMs = performance.now() - writeStarted;
    const spread = await waitFsck(leader, 'fsck clean after the writes', (r) => r.clean);
    const cleanAfterWriteMs = spread.at - writeStarted - writeMs;
    const ideal = (settings.bytes * settings.replication) / settings.nodes;
    const stored = spread.report.members.map((m) => ({ id: m.id, chunks: m.chunks ?? 0, bytes: m.bytes ?? 0, of_ideal: round((m.bytes ?? 0) / ideal, 3) }));
    const maxOfIdeal = round(Math.max(...stored.map((m) => m.bytes)) / ideal, 3);
    const minOfIdeal = round(Math.min(...stored.map((m) => m.bytes)) / ideal, 3);
    const writeMBs = mbPerSecond(settings.bytes, writeMs);
    const what = `${formatBytes(settings.bytes)} as ${formatBytes(settings.fileBytes)} files, ${settings.nodes} nodes, replication ${settings.replication}`;
    table.row('placement', `write ${what}, ${settings.concurrency} at once to the leader`, `${writeMBs} MB/s`, `fsck clean ${round(cleanAfterWriteMs / 1000, 1)} s after the last ack`);
    table.row('placement', `stored per node (ideal ${GiBytes(ideal)} GiB = written × ${settings.replication} / ${settings.nodes})`, stored.map((m) => `${m.id} ${GiBytes(m.bytes)}`).join(', '), `max ${maxOfIdeal}× / min ${minOfIdeal}× of ideal`);

    // Repair: kill a follower (not the leader: that would time an election too).
    const followers = cluster.nodes.filter((n) => n.id !== leader.id);
    const victim = followers[followers.length - 1];
    const lost = stored.find((m) => m.id === victim.id);
    if (lost === undefined) throw new Error(`placement: fsck has no member ${victim.id}`);
    // When the leader marks it down: its own log line (fsck under repair load answers too slowly
    // to see the moment; the decision is the leader's, logged as it proposes it).
    let markedDownAt: number | null = null;
    const watchLog = (data: Buffer) => {
      if (markedDownAt === null && data.toString().includes(`${victim.id} unreachable`) && data.toString().includes('marked down')) markedDownAt = performance.now();
    };
    leader.child?.stderr?.on('data', watchLog);
    const killedAt = performance.now();
    await cluster.stopNode(victim.id, 'SIGKILL');
    const repaired = await waitFsck(leader, 'fsck clean with the killed node down', (r) => r.clean && r.members.some((m) => m.id === victim.id && m.down));
    leader.child?.stderr?.off('data', watchLog);
    const downAt: number | null = markedDownAt;
    const totalMs = repaired.at - killedAt;
    const afterDownMs = downAt === null ? null : repaired.at - downAt;
    const afterDeadAfterMs = totalMs - settings.deadAfterMs;
    const repairMBs = afterDownMs === null ? null : mbPerSecond(lost.bytes, afterDownMs);
    const repairAfterDeadAfterMBs = mbPerSecond(lost.bytes, afterDeadAfterMs);
    const seconds = (ms: number | null) => (ms === null ? 'not seen' : `${round(ms / 1000, 1)} s`);
    table.row('placement', `repair after SIGKILL of ${victim.id} (${GiBytes(lost.bytes)} GiB, ${lost.chunks} chunks), --dead-after-ms ${settings.deadAfterMs}`, `${repairMBs ?? 'n/a'} MB/s after marked down`, `fsck clean ${seconds(totalMs)} after the kill, ${seconds(afterDownMs)} after down (${seconds(downAt === null ? null : downAt - killedAt)} after the kill); ${repairAfterDeadAfterMBs} MB/s after the dead-after delay`);
    const left = repaired.report.members.filter((m) => m.id !== victim.id);
    const idealLeft = (settings.bytes * settings.replication) / (settings.nodes - 1);
    const maxLeftOfIdeal = round(Math.max(...left.map((m) => m.bytes ?? 0)) / idealLeft, 3);
    table.row('placement', `stored per node on the ${left.length} left (ideal ${GiBytes(idealLeft)} GiB)`, left.map((m) => `${m.id} ${GiBytes(m.bytes ?? 0)}`).join(', '), `max ${maxLeftOfIdeal}× of ideal`);

    return {
      nodes: settings.nodes,
      replication: settings.replication,
      bytes: settings.bytes,
      file_bytes: settings.fileBytes,
      concurrency: settings.concurrency,
      chunks: spread.report.chunks,
      write: { mb_per_s: writeMBs, ms: Math.round(writeMs), clean_after_last_ack_ms: Math.round(cleanAfterWriteMs) },
      spread: { ideal_bytes: ideal, max_of_ideal: maxOfIdeal, min_of_ideal: minOfIdeal, members: stored },
      repair: {
        killed: victim.id,
        dead_after_ms: settings.deadAfterMs,
        bytes: lost.bytes,
        chunks: lost.chunks,
        marked_down_after_kill_ms: downAt === null ? null : Math.round(downAt - killedAt),
        clean_after_kill_ms: Math.round(totalMs),
        clean_after_down_ms: afterDownMs === null ? null : Math.round(afterDownMs),
        clean_after_dead_after_ms: Math.round(afterDeadAfterMs),
        fsck_call_ms: Math.round(repaired.callMs),
        mb_per_s_after_down: repairMBs,
        mb_per_s_after_dead_after: repairAfterDeadAfterMBs,
        mb_per_s_after_kill: mbPerSecond(lost.bytes, totalMs),
        members_after: left.map((m) => ({ id: m.id, chunks: m.chunks ?? 0, bytes: m.bytes ?? 0, of_ideal: round((m.bytes ?? 0) / idealLeft, 3) })),
        max_of_ideal_after: maxLeftOfIdeal,
      },
      what: 'fsck\'s stored bytes per member after writing to the leader at replication 3 on 5 nodes, against written × 3 / 5; then the time for fsck to be clean again after a follower is SIGKILLed (its bytes re-copied onto the 4 left), from the kill, from the leader marking it down (its log line) and from the end of the dead-after delay; fsck polled every 100 ms, fsck_call_ms is the length of the call that came clean',
    };
  } finally {
    await cluster.stopAll();
  }
}

async function findLeader(cluster: StorageCluster): Promise<StorageNodeHandle> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    for (const node of cluster.nodes) {
      const status = await fetch(`${node.url}/status`).then((r) => r.json() as Promise<{ is_leader: boolean }>, () => null);
      if (status?.is_leader === true) return node;
    }
    if (performance.now() > deadline) throw new Error('placement: no leader within 30 s');
    await sleep(100);
  }
}
