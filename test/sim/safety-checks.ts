// The Raft safety properties (paper figure 3), checked as the simulation runs:
//  (a) election safety: at most one leader per term;
//  (b) log matching: same index and term => identical logs up to there;
//  (c) leader completeness: an entry committed in term T is in the log of every leader of a term > T;
//  (d) state machine safety: no two nodes apply different entries at the same index (and
//      snapshots of the same index hold the same state);
//  and, checked in simulation.ts, committed durability: when an entry is first applied, a
//  quorum of the voters holds it in durable storage (what survives any minority of crashes).
// Membership changes (dissertation §4.1) add:
//  (e) configuration from the log: every node's membership is the latest one in its log (its
//      last config entry, else its snapshot's, else the founders');
//  (f) only voters campaign, and a leader whose own removal committed no longer leads.
// Election safety (a) holds across every node that ever ran, members or not.
import { decodeMembership, isVoterIn, learnersOf, sameMembership } from '../../storage-node/src/raft/membership.ts';
import type { Entry, Membership, NodeId, Role, SnapshotMeta } from '../../storage-node/src/raft/types.ts';
import { formatEntry } from './format.ts';

/** What the checkers need to know of a live node. */
export interface NodeView {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly commit: number;
  readonly snapshot: SnapshotMeta | null;
  /** The in-memory log after the snapshot. */
  readonly log: readonly Entry[];
  /** The membership the core uses, and the index of the config it says it comes from. */
  readonly membership: Membership;
  readonly membershipIndex: number;
  /** The membership at index 0 the node started from (founders, or none for a joiner). */
  readonly bootstrapMembership: Membership;
  /** The index of the config entry that added this incarnation (0 for a founder). */
  readonly joinedAt: number;
}

interface CommittedEntry {
  readonly entry: Entry;
  readonly node: NodeId;
  readonly tick: number;
  /**
   * The highest term any node had reached when the entry was first seen applied: the entry was
   * committed in a term <= this, so every leader of a higher term must hold it. (A leader of a
   * lower term can still be elected late — its votes were granted earlier but delivered after —
   * without breaking Raft: it can never commit anything.)
   */
  readonly termBound: number;
}

const MAX_VIOLATIONS = 20;

export class SafetyChecks {
  readonly violations: string[] = [];
  now = 0;
  maxTerm = 0;
  private readonly leaders = new Map<number, NodeId>();
  private readonly committed = new Map<number, CommittedEntry>();
  private maxCommittedIndex = 0;
  private readonly captures = new Map<number, { node: NodeId; data: string }>();
  private readonly seen = new Set<string>();

  constructor(private readonly trace: ((line: string) => void) | null) {}

  report(check: string, nodes: readonly NodeId[], detail: string): void {
    const line = `${check} at tick ${this.now} [${nodes.join(',')}]: ${detail}`;
    const key = `${check}|${nodes.join(',')}|${detail}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.trace?.(`VIOLATION ${line}`);
    if (this.violations.length < MAX_VIOLATIONS) this.violations.push(line);
  }

  /** Every status observation of a live node. Returns true when the node is a newly seen leader. */
  observe(view: NodeView): boolean {
    if (view.term > this.maxTerm) this.maxTerm = view.term;
    if (view.role !== 'leader') return false;
    const known = this.leaders.get(view.term);
    if (known === view.id) return false;
    if (known !== undefined) {
      this.report('election-safety', [known, view.id], `two leaders in term ${view.term}: ${known} and ${view.id}`);
      return false;
    }
    this.leaders.set(view.term, view.id);
    this.trace?.(`LEADER ${view.id} term=${view.term}`);
    this.leaderCompleteness(view);
    return true;
  }

  leaderTerms(): number {
    return this.leaders.size;
  }

  committedEntry(index: number): Entry | undefined {
    return this.committed.get(index)?.entry;
  }

  /** Has any node applied index `index` yet? */
  isCommitted(index: number): boolean {
    return this.committed.has(index);
  }

  applied(node: NodeId, entry: Entry): void {
    const prior = this.committed.get(entry.index);
    if (prior === undefined) {
      this.committed.set(entry.index, { entry, node, tick: this.now, termBound: this.maxTerm });
      if (entry.index > this.maxCommittedIndex) this.maxCommittedIndex = entry.index;
      return;
    }
    const a = prior.entry;
    if (a.term !== entry.term || a.type !== entry.type || a.data !== entry.data) {
      this.report(
        'state-machine-safety',
        [prior.node, node],
        `index ${entry.index}: ${node} applied ${formatEntry(entry)} but ${prior.node} applied ${formatEntry(a)} (tick ${prior.tick})`,
      );
    }
  }

  /** A node installed a snapshot it received: its last entry must be the committed one. */
  restored(node: NodeId, meta: SnapshotMeta, data: string): void {
    const c = this.committed.get(meta.index);
    if (c !== undefined && c.entry.term !== meta.term) {
      this.report(
        'state-machine-safety',
        [c.node, node],
        `${node} restored snapshot ${meta.index}/${meta.term} but ${c.node} applied ${formatEntry(c.entry)}`,
      );
    }
    this.captured(node, meta, data);
  }

  /** Two snapshots of the same index must hold the same state machine. */
  captured(node: NodeId, meta: SnapshotMeta, data: string): void {
    const prior = this.captures.get(meta.index);
    if (prior === undefined) {
      this.captures.set(meta.index, { node, data });
    } else if (prior.data !== data) {
      this.report(
        'state-machine-safety',
        [prior.node, node],
        `snapshots at index ${meta.index} differ: ${prior.node} has ${prior.data.slice(0, 120)} but ${node} has ${data.slice(0, 120)}`,
      );
    }
  }

  /** Log matching over every pair of live nodes' in-memory logs. */
  logMatching(views: readonly NodeView[]): void {
    for (let i = 0; i < views.length; i++) {
      for (let j = i + 1; j < views.length; j++) this.matchPair(views[i], views[j]);
    }
  }

  private matchPair(a: NodeView, b: NodeView): void {
    if (a.log.length === 0 || b.log.length === 0) return;
    const aFirst = a.log[0].index;
    const bFirst = b.log[0].index;
    const lo = Math.max(aFirst, bFirst);
    const hi = Math.min(a.log[a.log.length - 1].index, b.log[b.log.length - 1].index);
    let top = -1;
    for (let i = hi; i >= lo; i--) {
      if (a.log[i - aFirst].term === b.log[i - bFirst].term) {
        top = i;
        break;
      }
    }
    for (let i = lo; i <= top; i++) {
      const x = a.log[i - aFirst];
      const y = b.log[i - bFirst];
      if (x.index !== i || y.index !== i) {
        this.report('log-matching', [a.id, b.id], `a log is not contiguous at index ${i}`);
        return;
      }
      if (x.term !== y.term || x.type !== y.type || x.data !== y.data) {
        this.report(
          'log-matching',
          [a.id, b.id],
          `both hold an entry at ${top}/${a.log[top - aFirst].term} but differ at ${i}: ${a.id} ${formatEntry(x)} vs ${b.id} ${formatEntry(y)}`,
        );
        return;
      }
    }
  }

  /** A node's membership must be the latest configuration in its log (§4.1). */
  configFromLog(view: NodeView): void {
    let expected: Membership = view.snapshot?.membership ?? view.bootstrapMembership;
    let at = view.snapshot?.index ?? 0;
    for (let i = view.log.length - 1; i >= 0; i--) {
      if (view.log[i].type === 'config') {
        expected = decodeMembership(view.log[i].data);
        at = view.log[i].index;
        break;
      }
    }
    if (!sameMembership(expected, view.membership)) {
      this.report(
        'config-from-log',
        [view.id],
        `${view.id} uses voters=[${view.membership.voters}] learners=[${learnersOf(view.membership)}] but the latest configuration in its log (at ${at}) is voters=[${expected.voters}] learners=[${learnersOf(expected)}]`,
      );
    }
  }

  /**
   * Only a voter of its own configuration (one from after it joined) campaigns or leads; a leader that is not one is
   * removing itself, and must have stepped down once that change committed.
   */
  campaignerIsVoter(view: NodeView): void {
    // A configuration from before this incarnation joined does not make it a voter.
    if (view.role === 'follower' || (isVoterIn(view.membership, view.id) && view.membershipIndex >= view.joinedAt)) return;
    if (view.role === 'leader' && view.membershipIndex > view.commit) return;
    this.report(
      'membership-roles',
      [view.id],
      `${view.id} is ${view.role} in term ${view.term} but not a voter of its configuration at ${view.membershipIndex} (commit ${view.commit}): voters=[${view.membership.voters}]`,
    );
  }

  /** Every entry committed in a term below the leader's must be in the leader's log. */
  leaderCompleteness(view: NodeView): void {
    if (view.role !== 'leader') return;
    const snapIndex = view.snapshot?.index ?? 0;
    const first = view.log.length > 0 ? view.log[0].index : snapIndex + 1;
    const last = view.log.length > 0 ? view.log[view.log.length - 1].index : snapIndex;
    if (view.snapshot !== null) {
      const c = this.committed.get(snapIndex);
      if (c !== undefined && c.termBound < view.term && c.entry.term !== view.snapshot.term) {
        this.lacks(view, c, `its snapshot ends at ${snapIndex}/${view.snapshot.term}`);
        return;
      }
    }
    for (let i = Math.max(first, snapIndex + 1); i <= this.maxCommittedIndex; i++) {
      const c = this.committed.get(i);
      if (c === undefined || c.termBound >= view.term) continue;
      if (i > last) {
        this.lacks(view, c, `its log ends at ${last}`);
        return;
      }
      const mine = view.log[i - first];
      if (mine.term !== c.entry.term || mine.data !== c.entry.data) {
        this.lacks(view, c, `it holds ${formatEntry(mine)}`);
        return;
      }
    }
  }

  private lacks(view: NodeView, c: CommittedEntry, what: string): void {
    this.report(
      'leader-completeness',
      [view.id, c.node],
      `leader ${view.id} of term ${view.term} lacks committed ${formatEntry(c.entry)} (applied by ${c.node} at tick ${c.tick}, committed by term ${c.termBound}): ${what}`,
    );
  }
}
