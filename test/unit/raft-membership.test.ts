// The rules of membership changes (single-server changes, dissertation §4.1, with learners), one
// behaviour per test. Cores are stepped by hand over a perfect network; no time passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultRaftConfig } from '../../storage-node/src/raft/config.ts';
import { encodeMembership } from '../../storage-node/src/raft/membership.ts';
import { RaftCore } from '../../storage-node/src/raft/raft-core.ts';
import type { Entry, NodeId } from '../../storage-node/src/raft/types.ts';
import { clusterLedByA, drainMessages, drainReadies, exchange, makeCore, ofType, ticks } from './raft-fixtures.ts';

const electionTicks = defaultRaftConfig.electionTicks;

function ack(leader: RaftCore, from: NodeId, matchIndex: number): void {
  leader.step({ type: 'AppendEntriesResponse', from, to: leader.id, term: leader.status().term, success: true, matchIndex, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
}

function configEntry(index: number, term: number, voters: NodeId[], learners: NodeId[] = []): Entry {
  return { index, term, type: 'config', data: encodeMembership({ voters, learners }) };
}

/** Commits everything proposed so far among `cores` (a perfect network, a few heartbeats). */
function settle(cores: Map<NodeId, RaftCore>): void {
  for (let round = 0; round < 3; round++) {
    for (const core of cores.values()) if (core.status().role === 'leader') ticks(core, 1);
    exchange(cores);
  }
}

describe('Raft membership: changes are proposed one at a time by a ready leader', () => {
  it('adding a learner takes effect on the leader as soon as the config entry is in its log, and on a follower once in its log', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    const result = leader.proposeMembershipChange({ kind: 'addLearner', id: 'd' });
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(leader.status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.equal(leader.status().membershipChangePending, true);
    assert.equal(cores.get('b')!.status().membership.learners?.length ?? 0, 0);
    const messages = drainMessages(leader);
    assert.ok(ofType(messages, 'AppendEntries').some((m) => m.to === 'd'), 'the learner gets the log');
    for (const m of messages) cores.get(m.to)?.step(m);
    assert.deepEqual(cores.get('b')!.status().membership.learners, ['d']);
  });

  it('refuses a second change while one is uncommitted, and accepts it once that one committed', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    assert.ok(leader.proposeMembershipChange({ kind: 'addLearner', id: 'd' }).ok);
    const second = leader.proposeMembershipChange({ kind: 'remove', id: 'c' });
    assert.equal(second.ok, false);
    assert.equal(!second.ok && second.reason, 'changePending');
    settle(cores);
    assert.equal(leader.status().membershipChangePending, false);
    assert.ok(leader.proposeMembershipChange({ kind: 'remove', id: 'c' }).ok);

    const unsafe = clusterLedByA(['a', 'b', 'c'], [], { unsafe: { concurrentMembershipChanges: true } }).get('a')!;
    assert.ok(unsafe.proposeMembershipChange({ kind: 'addLearner', id: 'd' }).ok);
    assert.ok(unsafe.proposeMembershipChange({ kind: 'addLearner', id: 'e' }).ok, 'with concurrentMembershipChanges (unsafe) a second change is accepted');
  });

  it('a new leader proposes no change before an entry of its own term committed (the single-server bug fix)', () => {
    const leader = makeCore({ term: 1, logTerms: [1] });
    leader.campaign();
    drainMessages(leader);
    for (const from of ['b', 'c']) leader.step({ type: 'PreVoteResponse', from, to: 'a', term: 2, granted: true });
    drainMessages(leader);
    for (const from of ['b', 'c']) leader.step({ type: 'RequestVoteResponse', from, to: 'a', term: 2, granted: true });
    drainMessages(leader);
    assert.equal(leader.status().role, 'leader');
    const early = leader.proposeMembershipChange({ kind: 'addLearner', id: 'd' });
    assert.equal(!early.ok && early.reason, 'leaderNotReady');
    ack(leader, 'b', 2); // the no-op of term 2 commits
    assert.ok(leader.proposeMembershipChange({ kind: 'addLearner', id: 'd' }).ok);
  });

  it('refuses changes that do not fit the membership, and changes on a follower', () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d']);
    const leader = cores.get('a')!;
    const reason = (kind: 'addLearner' | 'promote' | 'remove', id: string) => {
      const result = leader.proposeMembershipChange({ kind, id });
      return result.ok ? 'accepted' : result.reason;
    };
    assert.equal(reason('addLearner', 'b'), 'alreadyMember');
    assert.equal(reason('addLearner', 'd'), 'alreadyMember');
    assert.equal(reason('promote', 'b'), 'notLearner');
    assert.equal(reason('promote', 'x'), 'notMember');
    assert.equal(reason('remove', 'x'), 'notMember');
    assert.equal(reason('addLearner', ''), 'invalidId');
    const onFollower = cores.get('b')!.proposeMembershipChange({ kind: 'remove', id: 'c' });
    assert.equal(!onFollower.ok && onFollower.reason, 'notLeader');
    assert.equal(!onFollower.ok && onFollower.leaderId, 'a');

    const alone = clusterLedByA(['a']).get('a')!;
    const last = alone.proposeMembershipChange({ kind: 'remove', id: 'a' });
    assert.equal(!last.ok && last.reason, 'lastVoter');
  });

  it("a new member's address travels with the change that adds it, stays on promotion and goes with removal", () => {
    const cores = clusterLedByA(['a', 'b', 'c'], [], { learnerCatchUpEntriesMax: 1000 });
    const leader = cores.get('a')!;
    const bad = leader.proposeMembershipChange({ kind: 'remove', id: 'c', address: 'http://x' });
    assert.equal(!bad.ok && bad.reason, 'invalidAddress');
    assert.ok(leader.proposeMembershipChange({ kind: 'addLearner', id: 'd', address: 'http://127.0.0.1:3033' }).ok);
    settle(cores);
    assert.deepEqual(cores.get('b')!.status().membership.addresses, { d: 'http://127.0.0.1:3033' }, 'a follower learns it from the log');
    const promoted = leader.proposeMembershipChange({ kind: 'promote', id: 'd' });
    assert.ok(promoted.ok);
    assert.deepEqual(promoted.membership.addresses, { d: 'http://127.0.0.1:3033' });
    settle(cores);
    assert.deepEqual(leader.compact(leader.status().applied).membership.addresses, { d: 'http://127.0.0.1:3033' }, 'snapshots carry it');
    const removed = leader.proposeMembershipChange({ kind: 'remove', id: 'd' });
    assert.ok(removed.ok);
    assert.equal(removed.membership.addresses, undefined);
  });

  it('refuses a removal that would leave fewer caught-up voters than a quorum (strict reconfig check)', () => {
    const cores = clusterLedByA(['a', 'b', 'c'], [], { learnerCatchUpEntriesMax: 5 });
    const leader = cores.get('a')!;
    const lagging = cores.get('b')!;
    cores.delete('b');
    for (let i = 0; i < 10; i++) leader.propose(`v${i}`);
    settle(cores);
    // Without c, the voters are a and b; b is 10 entries behind: nothing could commit.
    const refused = leader.proposeMembershipChange({ kind: 'remove', id: 'c' });
    assert.equal(!refused.ok && refused.reason, 'quorumBehind');
    assert.match(!refused.ok ? refused.message : '', /b behind/);
    // Once b has caught up, the removal goes through.
    cores.set('b', lagging);
    settle(cores);
    const removed = leader.proposeMembershipChange({ kind: 'remove', id: 'c' });
    assert.ok(removed.ok, JSON.stringify(removed));
  });

  it('promotes a learner only once its log is within learnerCatchUpEntriesMax of the leader (etcd rule)', () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d'], { learnerCatchUpEntriesMax: 5 });
    const leader = cores.get('a')!;
    const learner = cores.get('d')!;
    cores.delete('d');
    for (let i = 0; i < 10; i++) leader.propose(`v${i}`);
    settle(cores);
    const behind = leader.proposeMembershipChange({ kind: 'promote', id: 'd' });
    assert.equal(!behind.ok && behind.reason, 'learnerBehind');
    assert.match(!behind.ok ? behind.message : '', /more than 5 entries behind/);
    cores.set('d', learner);
    settle(cores);
    const promoted = leader.proposeMembershipChange({ kind: 'promote', id: 'd' });
    assert.ok(promoted.ok, JSON.stringify(promoted));
    assert.deepEqual(promoted.membership, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  });
});

describe('Raft membership: learners count for nothing', () => {
  it("a learner's copy does not commit an entry; a voter's does", () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d', 'e']);
    const leader = cores.get('a')!;
    const proposal = leader.propose('x');
    assert.ok(proposal.ok);
    drainMessages(leader);
    ack(leader, 'd', proposal.index);
    ack(leader, 'e', proposal.index);
    assert.equal(leader.status().commit, proposal.index - 1, 'two learners and the leader are no quorum of 3 voters');
    ack(leader, 'b', proposal.index);
    assert.equal(leader.status().commit, proposal.index);
  });

  it('with countLearnerAcks (unsafe) the same learners commit it', () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d', 'e'], { unsafe: { countLearnerAcks: true } });
    const leader = cores.get('a')!;
    const proposal = leader.propose('x');
    assert.ok(proposal.ok);
    drainMessages(leader);
    ack(leader, 'd', proposal.index);
    ack(leader, 'e', proposal.index);
    assert.equal(leader.status().commit, proposal.index);
  });

  it('a learner never campaigns: not on timeout, not on campaign(), not on TimeoutNow, not when its leader is down', () => {
    const learner = makeCore({ id: 'd', learners: ['d'] });
    ticks(learner, electionTicks * 5);
    learner.campaign();
    learner.step({ type: 'TimeoutNow', from: 'a', to: 'd', term: 0 });
    learner.reportPeerDown('a');
    ticks(learner, electionTicks * 5);
    const messages = drainMessages(learner);
    assert.equal(learner.status().role, 'follower');
    assert.deepEqual(messages.filter((m) => m.type === 'PreVote' || m.type === 'RequestVote'), []);
  });

  it("a learner's vote does not count towards an election", () => {
    const candidate = makeCore({ id: 'a', learners: ['d', 'e'] });
    candidate.campaign();
    assert.ok(ofType(drainMessages(candidate), 'PreVote').every((m) => m.to === 'b' || m.to === 'c'), 'pre-votes go to voters only');
    for (const from of ['d', 'e']) candidate.step({ type: 'PreVoteResponse', from, to: 'a', term: 1, granted: true });
    assert.equal(candidate.status().role, 'preCandidate');
    candidate.step({ type: 'PreVoteResponse', from: 'b', to: 'a', term: 1, granted: true });
    drainMessages(candidate);
    for (const from of ['d', 'e']) candidate.step({ type: 'RequestVoteResponse', from, to: 'a', term: 1, granted: true });
    assert.equal(candidate.status().role, 'candidate');
    candidate.step({ type: 'RequestVoteResponse', from: 'c', to: 'a', term: 1, granted: true });
    assert.equal(candidate.status().role, 'leader');
  });

  it("learners' heartbeat answers do not confirm a ReadIndex; a voter's does", () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d', 'e']);
    const leader = cores.get('a')!;
    leader.readIndex('r1');
    const heartbeats = ofType(drainMessages(leader), 'Heartbeat');
    assert.equal(heartbeats.length, 4, 'heartbeats go to learners too');
    const seq = heartbeats[0].seq;
    for (const from of ['d', 'e']) leader.step({ type: 'HeartbeatResponse', from, to: 'a', term: leader.status().term, seq, lastLogIndex: leader.status().lastIndex });
    assert.deepEqual(drainReadies(leader).flatMap((r) => r.readStates), []);
    leader.step({ type: 'HeartbeatResponse', from: 'b', to: 'a', term: leader.status().term, seq, lastLogIndex: leader.status().lastIndex });
    assert.deepEqual(drainReadies(leader).flatMap((r) => r.readStates.map((s) => s.requestId)), ['r1']);
  });

  it("a leader hearing only from learners steps down at the check-quorum round", () => {
    const cores = clusterLedByA(['a', 'b', 'c'], ['d', 'e']);
    const leader = cores.get('a')!;
    for (let tick = 0; tick < electionTicks * 2; tick++) {
      ticks(leader, 1);
      for (const m of ofType(drainMessages(leader), 'Heartbeat')) {
        if (m.to === 'd' || m.to === 'e') leader.step({ type: 'HeartbeatResponse', from: m.to, to: 'a', term: m.term, seq: m.seq, lastLogIndex: leader.status().lastIndex });
      }
    }
    assert.equal(leader.status().role, 'follower');
  });
});

describe('Raft membership: the configuration follows the log', () => {
  it('truncating an uncommitted config entry restores the configuration before it', () => {
    const follower = makeCore({ id: 'b', term: 2, logTerms: [1, 2] });
    const config = configEntry(3, 2, ['a', 'b', 'c'], ['d']);
    follower.step({ type: 'AppendEntries', from: 'a', to: 'b', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [config], commit: 2 });
    assert.deepEqual(follower.status().membership.learners, ['d']);
    // A new leader of term 3 never had it: its entry at 3 replaces the config entry.
    follower.step({ type: 'AppendEntries', from: 'c', to: 'b', term: 3, prevLogIndex: 2, prevLogTerm: 2, entries: [{ index: 3, term: 3, type: 'noop', data: '' }], commit: 2 });
    assert.deepEqual(follower.status().membership, { voters: ['a', 'b', 'c'], learners: [] });
    assert.equal(follower.status().membershipIndex, 0);
  });

  it('with keepConfigOnTruncation (unsafe) the truncated configuration stays', () => {
    const follower = makeCore({ id: 'b', term: 2, logTerms: [1, 2], config: { unsafe: { keepConfigOnTruncation: true } } });
    follower.step({ type: 'AppendEntries', from: 'a', to: 'b', term: 2, prevLogIndex: 2, prevLogTerm: 2, entries: [configEntry(3, 2, ['a', 'b', 'c'], ['d'])], commit: 2 });
    follower.step({ type: 'AppendEntries', from: 'c', to: 'b', term: 3, prevLogIndex: 2, prevLogTerm: 2, entries: [{ index: 3, term: 3, type: 'noop', data: '' }], commit: 2 });
    assert.deepEqual(follower.status().membership.learners, ['d']);
  });

  it('a restarted node takes its membership from the config entries in its log', () => {
    const entries = [{ index: 1, term: 1, type: 'noop' as const, data: '' }, configEntry(2, 1, ['a', 'b', 'c'], ['d']), configEntry(3, 1, ['a', 'b', 'c', 'd'])];
    const restart = (stored: Entry[]) =>
      new RaftCore(
        { ...defaultRaftConfig, id: 'd', randomInt: () => 0 },
        { hardState: { term: 1, vote: null, commit: 1 }, snapshot: null, entries: stored, applied: 1, membership: { voters: [] }, joinedAt: 2 },
      );
    assert.deepEqual(restart(entries).status().membership, { voters: ['a', 'b', 'c', 'd'], learners: [] });
    assert.equal(restart(entries).status().membershipIndex, 3);
    assert.deepEqual(restart(entries.slice(0, 2)).status().membership, { voters: ['a', 'b', 'c'], learners: ['d'] });
    assert.deepEqual(restart(entries.slice(0, 1)).status().membership, { voters: [] }, 'before any config entry: the bootstrap one');
  });

  it('a snapshot carries the configuration at its index, not a later uncommitted one', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    leader.propose('x');
    settle(cores);
    const applied = leader.status().applied;
    assert.ok(leader.proposeMembershipChange({ kind: 'addLearner', id: 'd' }).ok);
    drainReadies(leader);
    const snapshot = leader.compact(applied);
    assert.deepEqual(snapshot.membership, { voters: ['a', 'b', 'c'], learners: [] });
    assert.deepEqual(leader.status().membership.learners, ['d']);
  });
});

describe('Raft membership: removal', () => {
  it('a leader removing itself leads without counting itself until the change commits, then hands over and steps down', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    const removal = leader.proposeMembershipChange({ kind: 'remove', id: 'a' });
    assert.ok(removal.ok);
    const ready = leader.ready();
    leader.advance(ready); // durable on a, but a does not count any more
    ack(leader, 'b', removal.index);
    assert.equal(leader.status().role, 'leader');
    assert.equal(leader.status().commit, removal.index - 1, 'a and b are no quorum of {b, c}');
    for (const m of ready.messages) cores.get(m.to)!.step(m);
    for (const id of ['b', 'c']) drainMessages(cores.get(id)!);
    ack(leader, 'c', removal.index);
    assert.equal(leader.status().commit, removal.index);
    assert.equal(leader.status().role, 'follower');
    assert.equal(leader.status().removed, true);
    const messages = drainMessages(leader);
    const [timeoutNow] = ofType(messages, 'TimeoutNow');
    assert.ok(timeoutNow !== undefined && (timeoutNow.to === 'b' || timeoutNow.to === 'c'));
    for (const m of messages) cores.get(m.to)!.step(m);
    exchange(cores);
    assert.equal(cores.get(timeoutNow.to)!.status().role, 'leader');
    ticks(leader, electionTicks * 5);
    assert.deepEqual(drainMessages(leader), [], 'the removed node stays silent');
  });

  it('a removed follower learns of its removal once committed, and never campaigns', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    assert.ok(leader.proposeMembershipChange({ kind: 'remove', id: 'c' }).ok);
    exchange(cores);
    const removed = cores.get('c')!;
    settle(cores);
    assert.equal(removed.status().removed, true, 'the leader keeps replicating to it until it knows');
    assert.equal(cores.get('b')!.status().removed, false);
    ticks(removed, electionTicks * 5);
    assert.deepEqual(ofType(drainMessages(removed), 'PreVote'), []);
  });

  it('a removed node that missed its removal cannot win a pre-vote against the voters that hold it', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    const stale = cores.get('c')!;
    cores.delete('c');
    assert.ok(leader.proposeMembershipChange({ kind: 'remove', id: 'c' }).ok);
    settle(cores);
    assert.equal(leader.status().membershipChangePending, false);
    // a and b stop hearing from each other; c campaigns with its old log and configuration.
    ticks(stale, electionTicks * 3);
    const preVotes = ofType(drainMessages(stale), 'PreVote');
    assert.ok(preVotes.length > 0);
    for (const id of ['a', 'b']) ticks(cores.get(id)!, electionTicks * 3);
    for (const m of preVotes) {
      const voter = cores.get(m.to)!;
      drainMessages(voter);
      voter.step(m);
      const [answer] = ofType(drainMessages(voter), 'PreVoteResponse');
      assert.equal(answer?.granted, false, `${m.to} refuses the stale node`);
    }
  });

  it('a node re-added under the same id replays its earlier removal without taking it for its own', () => {
    const log: Entry[] = [
      { index: 1, term: 1, type: 'noop', data: '' },
      configEntry(2, 1, ['a', 'b']), // c removed (its earlier incarnation)
      { index: 3, term: 1, type: 'normal', data: 'x' },
      configEntry(4, 1, ['a', 'b'], ['c']), // c added again: this incarnation joined here
    ];
    const rejoined = makeCore({ id: 'c', voters: [], joinedAt: 4, term: 1 });
    rejoined.step({ type: 'AppendEntries', from: 'a', to: 'c', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: log.slice(0, 3), commit: 3 });
    assert.equal(rejoined.status().removed, false, 'the removal at 2 is before it joined');
    rejoined.step({ type: 'AppendEntries', from: 'a', to: 'c', term: 1, prevLogIndex: 3, prevLogTerm: 1, entries: log.slice(3), commit: 4 });
    assert.deepEqual(rejoined.status().membership.learners, ['c']);
    rejoined.step({ type: 'AppendEntries', from: 'a', to: 'c', term: 1, prevLogIndex: 4, prevLogTerm: 1, entries: [configEntry(5, 1, ['a', 'b'])], commit: 5 });
    assert.equal(rejoined.status().removed, true, 'a removal after it joined is its own');
  });

  it('a re-added node neither campaigns nor votes on the configurations from before it joined', () => {
    const log: Entry[] = [
      { index: 1, term: 1, type: 'noop', data: '' },
      configEntry(2, 1, ['a', 'b', 'c']), // an earlier incarnation of c was a voter
      { index: 3, term: 1, type: 'normal', data: 'x' },
    ];
    // c was removed at 4 and added again at 6: it replays the log and holds only 1..3 so far.
    const rejoined = makeCore({ id: 'c', voters: [], joinedAt: 6, term: 1 });
    rejoined.step({ type: 'AppendEntries', from: 'a', to: 'c', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: log, commit: 3 });
    drainMessages(rejoined);
    assert.deepEqual(rejoined.status().membership.voters, ['a', 'b', 'c']);
    ticks(rejoined, electionTicks * 5);
    rejoined.campaign();
    assert.deepEqual(ofType(drainMessages(rejoined), 'PreVote'), [], 'no campaign on a configuration from before it joined');
    rejoined.step({ type: 'PreVote', from: 'b', to: 'c', term: 2, lastLogIndex: 3, lastLogTerm: 1 });
    rejoined.step({ type: 'RequestVote', from: 'b', to: 'c', term: 2, lastLogIndex: 3, lastLogTerm: 1, transfer: false });
    const answers = drainMessages(rejoined).filter((m) => m.type === 'PreVoteResponse' || m.type === 'RequestVoteResponse');
    assert.deepEqual(answers.map((m) => 'granted' in m && m.granted), [false, false]);
    assert.equal(rejoined.status().vote, null);

    const unsafe = makeCore({ id: 'c', voters: [], joinedAt: 6, term: 1, config: { unsafe: { ignoreJoinedAt: true } } });
    unsafe.step({ type: 'AppendEntries', from: 'a', to: 'c', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: log, commit: 3 });
    ticks(unsafe, electionTicks * 5);
    assert.ok(ofType(drainMessages(unsafe), 'PreVote').length > 0, 'with ignoreJoinedAt (unsafe) it campaigns');
    unsafe.step({ type: 'PreVote', from: 'b', to: 'c', term: 2, lastLogIndex: 3, lastLogTerm: 1 });
    assert.equal(ofType(drainMessages(unsafe), 'PreVoteResponse')[0].granted, true, 'with ignoreJoinedAt (unsafe) it votes');

    const founder = makeCore({ id: 'c', term: 1, logTerms: [1, 1, 1] });
    founder.step({ type: 'PreVote', from: 'b', to: 'c', term: 2, lastLogIndex: 3, lastLogTerm: 1 });
    assert.equal(ofType(drainMessages(founder), 'PreVoteResponse')[0].granted, true, 'the same request is granted by a founder');
  });

  it('a leader tracks a re-added id afresh, not from what its earlier incarnation acknowledged', () => {
    const cores = clusterLedByA(['a', 'b', 'c']);
    const leader = cores.get('a')!;
    for (let i = 0; i < 5; i++) leader.propose(`v${i}`);
    settle(cores);
    assert.ok(leader.proposeMembershipChange({ kind: 'remove', id: 'c' }).ok);
    settle(cores);
    const before = leader.status().progress.find((p) => p.id === 'c');
    assert.ok(before !== undefined && before.match > 5, 'the removed node is still replicated to until the next change');
    cores.delete('c');
    assert.ok(leader.proposeMembershipChange({ kind: 'addLearner', id: 'c' }).ok);
    assert.equal(leader.status().progress.find((p) => p.id === 'c')?.match, 0);
  });
});
