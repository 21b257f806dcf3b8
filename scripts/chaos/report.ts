// The report of a run: one JSON object (written to report.json) and the human table printed from
// it, ending with the line `chaos: ops N, faults F, violations V`.
import type { OpCounts, Violation, Window } from './analysis.ts';
import type { Convergence } from './checks.ts';
import type { FaultRecord } from './nemesis.ts';

export interface Availability {
  readonly longestWriteMs: number;
  readonly longestReadMs: number;
  readonly writeWindows: Window[];
  readonly readWindows: Window[];
}

export interface ChaosReport {
  readonly seed: number;
  readonly nodes: number;
  /** Copies of each chunk the cluster was set to. */
  readonly replication: number;
  readonly durationS: number;
  readonly clients: number;
  /** How the network was handled, and why when namespaces were not used. */
  readonly network: { mode: 'netns' | 'loopback'; partitions: 'links cut (ip neigh, silent drop)' | 'minority paused (SIGSTOP)'; note: string | null };
  readonly unsafeLocalReads: boolean;
  readonly elapsedS: number;
  readonly ops: { total: number; byKind: OpCounts; byTarget: Record<string, { sent: number; ok: number }>; finalReads: number };
  readonly faults: { total: number; byKind: Record<string, number>; list: FaultRecord[] };
  /** Gaps with no answered operation: among the gateway's clients, and among all clients. */
  readonly unavailability: { thresholdMs: number; gateway: Availability; all: Availability };
  readonly convergence: Convergence;
  readonly checks: {
    keys: number;
    timedOutKeys: string[];
    versionsReadBack: number;
    chunkCopiesVerified: number;
    metadataDigests: Record<string, string>;
    /** Each node's own GET /admin/metadata-digest (cluster_settings included), at one applied index. */
    nodeDigests: Record<string, { applied_index: number; digest: string }>;
    /** The leader's fsck after the wait for repair. */
    fsck: { clean: boolean; ms: number; summary: string };
    /** Copies of needed chunks on nodes that are not their holders (not collected yet: a note). */
    strayCopies: number;
  };
  readonly notes: string[];
  readonly violations: Violation[];
  readonly files: { dir: string; report: string; history: string; ops: string; logs: string[] };
  readonly replay: string;
}

export function summaryLine(report: Pick<ChaosReport, 'ops' | 'faults' | 'violations'>): string {
  return `chaos: ops ${report.ops.total}, faults ${report.faults.total}, violations ${report.violations.length}`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Faults whose time overlaps [startMs, endMs]. */
function faultsDuring(faults: readonly FaultRecord[], startMs: number, endMs: number): string {
  const hits = faults.filter((f) => f.startMs <= endMs && (f.endMs ?? Infinity) >= startMs - 1_000);
  return hits.length === 0 ? '' : ` during ${hits.map((f) => `#${f.index} ${f.kind} ${f.targets.join(',')}`).join('; ')}`;
}

export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  lines.push(`chaos run: seed ${r.seed}, ${r.nodes} nodes at replication ${r.replication}, ${r.durationS} s of workload, ${r.clients} clients, ${r.elapsedS.toFixed(0)} s in all${r.unsafeLocalReads ? ', UNSAFE: reads sent as local, checked as linearizable' : ''}`);
  lines.push(`network: ${r.network.mode}, partitions: ${r.network.partitions}${r.network.note === null ? '' : ` (${r.network.note})`}`);
  lines.push('');
  lines.push('operations      ok    fail    info   total');
  const row = (name: string, c: { ok: number; fail: number; info: number }) =>
    `  ${name.padEnd(8)} ${String(c.ok).padStart(7)} ${String(c.fail).padStart(7)} ${String(c.info).padStart(7)} ${String(c.ok + c.fail + c.info).padStart(7)}`;
  const total = { ok: 0, fail: 0, info: 0 };
  for (const [kind, c] of Object.entries(r.ops.byKind)) {
    lines.push(row(kind, c));
    total.ok += c.ok;
    total.fail += c.fail;
    total.info += c.info;
  }
  lines.push(row('all', total));
  lines.push(`  sent to: ${Object.entries(r.ops.byTarget).sort().map(([t, c]) => `${t} ${c.ok}/${c.sent} ok`).join(', ')}; final reads ${r.ops.finalReads}`);
  lines.push('');
  lines.push(`faults: ${r.faults.total}${r.faults.total > 0 ? ` (${Object.entries(r.faults.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`);
  for (const f of r.faults.list) {
    lines.push(`  #${String(f.index).padEnd(3)} ${seconds(f.startMs).padStart(8)} → ${f.endMs === null ? '?' : seconds(f.endMs).padStart(8)}  ${f.kind.padEnd(13)} ${f.detail}`);
  }
  lines.push('');
  const u = r.unavailability.gateway;
  const all = r.unavailability.all;
  lines.push(`unavailability (no operation answered for ${seconds(r.unavailability.thresholdMs)} or more):`);
  lines.push(`  longest through the gateway: writes ${seconds(u.longestWriteMs)}, reads ${seconds(u.longestReadMs)}; among all clients (those straight to a node too): writes ${seconds(all.longestWriteMs)}, reads ${seconds(all.longestReadMs)}`);
  for (const w of u.writeWindows) lines.push(`  gateway writes ${seconds(w.startMs)} → ${seconds(w.endMs)} (${seconds(w.durationMs)})${faultsDuring(r.faults.list, w.startMs, w.endMs)}`);
  for (const w of u.readWindows) lines.push(`  gateway reads  ${seconds(w.startMs)} → ${seconds(w.endMs)} (${seconds(w.durationMs)})${faultsDuring(r.faults.list, w.startMs, w.endMs)}`);
  lines.push('');
  lines.push(`convergence: ${r.convergence.converged ? `in ${seconds(r.convergence.ms)}: ${r.convergence.detail}` : `NOT within ${seconds(r.convergence.ms)}: ${r.convergence.detail}`}`);
  const digests = Object.entries(r.checks.metadataDigests);
  const same = new Set(Object.values(r.checks.metadataDigests)).size === 1;
  const own = Object.values(r.checks.nodeDigests);
  const ownSame = own.length > 0 && new Set(own.map((d) => `${d.applied_index}/${d.digest}`)).size === 1;
  lines.push(`checks: linearizability of ${r.checks.keys} keys${r.checks.timedOutKeys.length > 0 ? ` (${r.checks.timedOutKeys.length} timed out: unknown)` : ''}; lost writes; metadata digests ${same ? `equal on ${digests.length} nodes (${digests[0]?.[1].slice(0, 12) ?? '-'}…)` : 'DIFFER'}; the nodes' own digests ${ownSame ? `equal on ${own.length} nodes at index ${own[0].applied_index}` : 'DIFFER'}; ${r.checks.versionsReadBack} kept versions read back from every node, ${r.checks.chunkCopiesVerified} chunk copies verified on their holders (${r.checks.strayCopies} on non-holders); fsck ${r.checks.fsck.clean ? `clean after ${seconds(r.checks.fsck.ms)}` : 'NOT clean'}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  lines.push('');
  if (r.violations.length === 0) lines.push('violations: none');
  else {
    lines.push(`violations: ${r.violations.length}`);
    for (const v of r.violations.slice(0, 30)) {
      const where = [v.key, v.node].filter((x) => x !== undefined).join(' on ');
      lines.push(`  [${v.kind}]${where === '' ? '' : ` ${where}:`} ${v.message.split('\n').join('\n      ')}`);
    }
    if (r.violations.length > 30) lines.push(`  … and ${r.violations.length - 30} more in ${r.files.report}`);
  }
  lines.push('');
  lines.push(`report: ${r.files.report}`);
  lines.push(`history: ${r.files.history} (npm run -s check-history -- ${r.files.history})`);
  lines.push(`operations: ${r.files.ops}; logs: ${r.files.dir}/*.log`);
  if (r.violations.length > 0) lines.push(`replay: ${r.replay}`);
  lines.push(summaryLine(r));
  return lines.join('\n');
}
