// The liveness check of the heal phase: once the faults stop, a leader must be elected and a
// fresh proposal (a `probe` command, invisible to clients) must be applied on a majority of the
// voters (of the leader's configuration, after membership changes) within a bound. The probe is re-proposed when it is lost (another entry committed at its index) or
// stalls (the leader that took it was deposed).
import type { NodeId } from '../../storage-node/src/raft/types.ts';
import { encodeCommand } from './kv-model.ts';
import type { SafetyChecks } from './safety-checks.ts';
import type { SimNode } from './sim-node.ts';

export class LivenessProbe {
  /** The tick at which a probe was applied on a majority; -1 until then. */
  doneAt = -1;
  private probe: { index: number; term: number; at: number } | null = null;
  private seq = 0;

  constructor(
    private readonly nodes: ReadonlyMap<NodeId, SimNode>,
    private readonly electionTicks: number,
    private readonly checks: SafetyChecks,
    private readonly trace: ((line: string) => void) | null,
  ) {}

  get done(): boolean {
    return this.doneAt >= 0;
  }

  step(now: number, leader: SimNode | undefined): void {
    if (this.done) return;
    const p = this.probe;
    if (p !== null) {
      const committed = this.checks.committedEntry(p.index);
      if (committed !== undefined && committed.term !== p.term) {
        this.trace?.(`probe ${p.index}/${p.term} lost to ${committed.index}/${committed.term}`);
        this.probe = null;
      } else if (committed !== undefined && leader !== undefined && this.appliedOnMajority(p.index, leader)) {
        this.doneAt = now;
        this.trace?.(`LIVENESS probe ${p.index}/${p.term} applied on a majority`);
        return;
      } else if (now - p.at > 4 * this.electionTicks) {
        this.probe = null;
      }
    }
    if (this.probe === null && leader !== undefined) {
      const result = leader.propose(encodeCommand({ op: 'probe', seq: ++this.seq }));
      if (result !== null && result.ok) {
        this.probe = { index: result.index, term: result.term, at: now };
        this.trace?.(`probe proposed at ${leader.id} as ${result.index}/${result.term}`);
      }
    }
  }

  /** A one-line picture of every node, for the liveness violation. */
  describeNodes(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (!n.up) return `${n.id}:down`;
        const s = n.core!.status();
        const kind = s.membership.voters.includes(n.id) ? 'voter' : s.removed ? 'removed' : 'nonvoter';
        return `${n.id}:${s.role}/${kind}/t${s.term}/commit${s.commit}/last${s.lastIndex}`;
      })
      .join(' ');
  }

  private appliedOnMajority(index: number, leader: SimNode): boolean {
    const voters = leader.core!.status().membership.voters;
    let count = 0;
    for (const id of voters) {
      const n = this.nodes.get(id);
      if (n?.up === true && n.applied >= index) count++;
    }
    return count >= Math.floor(voters.length / 2) + 1;
  }
}
