// The rules of the Raft paper's figure 2 (and the dissertation's extensions), one behaviour per
// test, each named after the rule it checks. Cores are stepped by hand; no time passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RaftCore } from '../../storage-node/src/raft/raft-core.ts';
import { defaultRaftConfig } from '../../storage-node/src/raft/config.ts';
import { decodeMembership, encodeMembership } from '../../storage-node/src/raft/membership.ts';
import {
  drainMessages,
  drainReadies,
  electLeader,
  entriesWithTerms,
  exchange,
  makeCore,
  ofType,
  ticks,
  voters3,
} from './raft-fixtures.ts';

const electionTicks = defaultRaftConfig.electionTicks;

describe('Raft rules (figure 2): all servers', () => {
  it('a message with a higher term makes the receiver adopt the term and become follower (§5.1)', () => {
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    assert.equal(leader.status().role, 'leader');
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: 7, success: false, matchIndex: 0, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().role, 'follower');
    assert.equal(leader.status().term, 7);
    assert.equal(leader.status().vote, null);
  });

  it('the term-only answer to an older leader, arriving once that node leads in the same term, changes nothing', () => {
    // Found by the chaos suite (seed 2833): a node led in term t, was deposed, won term t+1, and
    // only then got a term t+1 node's answer to one of its term t appends. The answer carries no
    // log position (conflictIndex 0): it was taken for a wiped follower's and crashed the leader.
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    const { term, lastIndex } = leader.status();
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: false, matchIndex: 0, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().role, 'leader');
    assert.deepEqual(drainMessages(leader), [], 'a term-only answer sends nothing');
    // Replication to b goes on from where it was: its real answer commits the leader's entries.
    assert.ok(leader.status().commit < lastIndex, 'nothing of this term is committed before b answers');
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: true, matchIndex: lastIndex, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().role, 'leader');
    assert.equal(leader.status().commit, lastIndex, "b's acknowledgement commits the leader's entries");
  });

  it('a message from an older leader is answered with the current term so that leader steps down', () => {
    const follower = makeCore({ term: 5 });
    follower.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 3, commit: 0, seq: 1 });
    const [reply] = drainMessages(follower);
    assert.equal(reply.type, 'AppendEntriesResponse');
    assert.equal(reply.term, 5);
    assert.equal(follower.status().term, 5);
  });
});

describe('Raft rules (figure 2): RequestVote', () => {
  it('grants a vote when votedFor is null and the candidate log is at least as up to date', () => {
    const voter = makeCore({ term: 1, logTerms: [1] });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 2, lastLogIndex: 1, lastLogTerm: 1, transfer: false });
    const [ready] = drainReadies(voter);
    assert.deepEqual(ready.hardState, { term: 2, vote: 'b', commit: 0 });
    const [reply] = ofType([...ready.messages], 'RequestVoteResponse');
    assert.equal(reply.granted, true);
  });

  it('the vote is made durable in the same Ready that carries the reply (persist before send)', () => {
    const voter = makeCore({ term: 1 });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const ready = voter.ready();
    assert.equal(ready.hardState?.vote, 'b');
    assert.equal(ready.messages.length, 1);
    assert.throws(() => voter.ready(), /before advance/);
    voter.advance(ready);
  });

  it('refuses a candidate whose last log term is older (election restriction, §5.4.1)', () => {
    const voter = makeCore({ term: 2, logTerms: [1, 2] });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 3, lastLogIndex: 5, lastLogTerm: 1, transfer: false });
    const [reply] = ofType(drainMessages(voter), 'RequestVoteResponse');
    assert.equal(reply.granted, false);
    assert.equal(voter.status().vote, null);
  });

  it('refuses a candidate with the same last term but a shorter log (§5.4.1)', () => {
    const voter = makeCore({ term: 2, logTerms: [1, 2, 2] });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 3, lastLogIndex: 2, lastLogTerm: 2, transfer: false });
    assert.equal(ofType(drainMessages(voter), 'RequestVoteResponse')[0].granted, false);
  });

  it('votes for at most one candidate per term (§5.2)', () => {
    const voter = makeCore({ term: 1 });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    voter.step({ type: 'RequestVote', from: 'c', to: 'a', term: 2, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    const replies = ofType(drainMessages(voter), 'RequestVoteResponse');
    assert.deepEqual(replies.map((r) => [r.to, r.granted]), [['b', true], ['c', false]]);
  });

  it('ignores a vote request from an older term (reply false if term < currentTerm)', () => {
    const voter = makeCore({ term: 5 });
    voter.step({ type: 'RequestVote', from: 'b', to: 'a', term: 4, lastLogIndex: 9, lastLogTerm: 4, transfer: false });
    assert.equal(ofType(drainMessages(voter), 'RequestVoteResponse').filter((r) => r.granted).length, 0);
    assert.equal(voter.status().vote, null);
  });
});

describe('Raft rules (figure 2): AppendEntries', () => {
  it('rejects when the log has no entry at prevLogIndex, hinting where its log ends (§5.3)', () => {
    const follower = makeCore({ term: 2, logTerms: [1, 1] });
    follower.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 2, prevLogIndex: 5, prevLogTerm: 2, entries: [], commit: 0 });
    const [reply] = ofType(drainMessages(follower), 'AppendEntriesResponse');
    assert.equal(reply.success, false);
    assert.equal(reply.rejectedIndex, 5);
    assert.equal(reply.conflictIndex, 3);
    assert.equal(reply.conflictTerm, 0);
  });

  it('rejects when the term at prevLogIndex differs, hinting the first index of that term (fast backtracking)', () => {
    const follower = makeCore({ term: 3, logTerms: [1, 2, 2, 2] });
    follower.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 3, prevLogIndex: 4, prevLogTerm: 3, entries: [], commit: 0 });
    const [reply] = ofType(drainMessages(follower), 'AppendEntriesResponse');
    assert.equal(reply.success, false);
    assert.equal(reply.conflictTerm, 2);
    assert.equal(reply.conflictIndex, 2);
  });

  it('deletes a conflicting entry and all that follow it, then appends the new ones', () => {
    const follower = makeCore({ term: 3, logTerms: [1, 2, 2] });
    const incoming = entriesWithTerms([3, 3], 2);
    follower.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: incoming, commit: 0 });
    const [ready] = drainReadies(follower);
    assert.deepEqual(follower.log().map((e) => e.term), [1, 3, 3]);
    // The driver is told to replace its stored entries from index 2 on.
    assert.deepEqual(ready.entries.map((e) => [e.index, e.term]), [[2, 3], [3, 3]]);
  });

  it('appends only entries not already in the log (a duplicate message changes nothing)', () => {
    const follower = makeCore({ term: 2, logTerms: [1, 2, 2] });
    const message = { type: 'AppendEntries' as const, from: 'b', to: 'a', term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: entriesWithTerms([2], 2), commit: 0 };
    follower.step(message);
    const [ready] = drainReadies(follower);
    assert.deepEqual(ready.entries, []);
    assert.deepEqual(follower.log().map((e) => e.term), [1, 2, 2]);
  });

  it('sets commitIndex = min(leaderCommit, index of last new entry)', () => {
    const follower = makeCore({ term: 2 });
    follower.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: entriesWithTerms([2, 2]), commit: 10 });
    const [ready] = drainReadies(follower);
    assert.equal(follower.status().commit, 2);
    assert.deepEqual(ready.committed.map((e) => e.index), [1, 2]);
  });

  it('never moves commitIndex past what the leader says it matched (heartbeat commit)', () => {
    const follower = makeCore({ term: 2, logTerms: [1, 1, 1] });
    follower.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 2, commit: 1, seq: 1 });
    drainMessages(follower);
    assert.equal(follower.status().commit, 1);
  });

  it('a candidate that receives AppendEntries from the new leader of its term becomes follower (§5.2)', () => {
    const candidate = makeCore({ term: 1, config: { preVote: false } });
    candidate.campaign();
    drainMessages(candidate);
    assert.equal(candidate.status().role, 'candidate');
    candidate.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [], commit: 0 });
    assert.equal(candidate.status().role, 'follower');
    assert.equal(candidate.status().leaderId, 'b');
  });
});

describe('Raft rules (figure 2): elections', () => {
  it('a follower that hears nothing for an election timeout pre-votes without raising its term (§9.6)', () => {
    const follower = makeCore({ term: 4 });
    ticks(follower, electionTicks);
    const preVotes = ofType(drainMessages(follower), 'PreVote');
    assert.equal(preVotes.length, 2);
    assert.equal(preVotes[0].term, 5);
    assert.equal(follower.status().term, 4);
    assert.equal(follower.status().role, 'preCandidate');
  });

  it('after a pre-vote quorum it becomes candidate: term + 1, votes for itself, requests votes', () => {
    const node = makeCore({ term: 4 });
    node.campaign();
    drainMessages(node);
    node.step({ type: 'PreVoteResponse', from: 'b', to: 'a', term: 5, granted: true });
    const [ready] = drainReadies(node);
    assert.equal(node.status().role, 'candidate');
    assert.deepEqual(ready.hardState, { term: 5, vote: 'a', commit: 0 });
    assert.equal(ofType([...ready.messages], 'RequestVote').length, 2);
  });

  it('a new leader appends a no-op of its term and sends it to every follower (§5.4.2)', () => {
    const configured = [{ index: 1, term: 1, type: 'config' as const, data: encodeMembership({ voters: voters3 }) }];
    const node = makeCore({ term: 1 });
    drainReadies(node);
    node.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: configured, commit: 1 });
    drainMessages(node);
    ticks(node, electionTicks * 2); // the lease of b runs out
    electLeader(node);
    const messages = ofType(drainMessages(node), 'AppendEntries');
    assert.equal(node.status().role, 'leader');
    assert.deepEqual(messages.map((m) => m.to).sort(), ['b', 'c']);
    assert.equal(messages[0].entries[0].type, 'noop');
    assert.equal(messages[0].entries[0].term, node.status().term);
  });

  it('while the log holds no configuration, the configuration is that entry (nodes that join later replay it)', () => {
    const node = makeCore({ term: 1, logTerms: [1] });
    electLeader(node);
    const [append] = ofType(drainMessages(node), 'AppendEntries');
    assert.equal(append.entries[0].type, 'config');
    assert.equal(append.entries[0].term, node.status().term);
    assert.deepEqual(decodeMembership(append.entries[0].data), { voters: voters3, learners: [] });
    assert.equal(node.status().membershipIndex, append.entries[0].index);
  });

  it('a node in a live leader lease ignores vote requests (check-quorum, §4.2.3)', () => {
    const follower = makeCore({ term: 2 });
    follower.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 2, commit: 0, seq: 1 });
    drainMessages(follower);
    follower.step({ type: 'RequestVote', from: 'c', to: 'a', term: 3, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    assert.equal(ofType(drainMessages(follower), 'RequestVoteResponse').length, 0);
    assert.equal(follower.status().term, 2);
  });

  it('a follower told that its leader process is gone campaigns within a few ticks, and then grants votes despite the lease', () => {
    const follower = makeCore({ term: 2 });
    follower.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 2, commit: 0, seq: 1 });
    drainMessages(follower);
    follower.reportPeerDown('b');
    // The lease is over: c's vote request is answered now.
    follower.step({ type: 'PreVote', from: 'c', to: 'a', term: 3, lastLogIndex: 0, lastLogTerm: 0 });
    assert.equal(ofType(drainMessages(follower), 'PreVoteResponse')[0]?.granted, true);
    ticks(follower, 3);
    assert.equal(ofType(drainMessages(follower), 'PreVote').length, 2, 'pre-votes within 3 ticks, not an election timeout');
    assert.equal(follower.status().role, 'preCandidate');
  });

  it('a report that some other peer is down changes nothing for a follower', () => {
    const follower = makeCore({ term: 2 });
    follower.step({ type: 'Heartbeat', from: 'b', to: 'a', term: 2, commit: 0, seq: 1 });
    drainMessages(follower);
    follower.reportPeerDown('c');
    ticks(follower, electionTicks - 1);
    assert.equal(ofType(drainMessages(follower), 'PreVote').length, 0);
    assert.equal(follower.status().role, 'follower');
  });

  it('a leader that hears from no quorum for an election timeout steps down (check-quorum)', () => {
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    ticks(leader, electionTicks * 2);
    assert.equal(leader.status().role, 'follower');
  });
});

describe('Raft rules (figure 2): leaders commit', () => {
  it('commits an entry of its term once a majority holds it', () => {
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    const proposal = leader.propose('x');
    assert.ok(proposal.ok);
    drainMessages(leader);
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: leader.status().term, success: true, matchIndex: proposal.index, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().commit, proposal.index);
  });

  it('a leader whose own write is still syncing commits with a quorum of followers, and counts itself only once durable (§10.2.1)', () => {
    const ack = (leader: ReturnType<typeof makeCore>, from: string, matchIndex: number) =>
      leader.step({ type: 'AppendEntriesResponse', from, to: 'a', term: leader.status().term, success: true, matchIndex, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    // Both followers hold the no-op: they leave probing, so each proposal goes out at once.
    ack(leader, 'b', 1);
    ack(leader, 'c', 1);
    drainMessages(leader);
    const proposal = leader.propose('x');
    assert.ok(proposal.ok);
    const ready = leader.ready();
    assert.deepEqual(ready.entries.map((e) => e.index), [proposal.index]);
    assert.equal(ofType([...ready.messages], 'AppendEntries').length, 2, 'the appends leave with the Ready, before the sync');
    leader.advanceBeforeDurable(ready);
    assert.equal(leader.hasReady(), false, 'entries being synced are not handed out again');
    assert.equal(leader.status().durableIndex, proposal.index - 1);
    ack(leader, 'b', proposal.index);
    assert.equal(leader.status().commit, proposal.index - 1, 'one follower and an unsynced leader are no quorum');
    leader.entriesDurable(proposal.index, proposal.term);
    assert.equal(leader.status().commit, proposal.index, 'the synced leader and one follower are');
    assert.equal(leader.status().durableIndex, proposal.index);

    const second = leader.propose('y');
    assert.ok(second.ok);
    drainReadies(leader); // the commit of 'x' goes out; 'y' is written with it
    const again = leader.propose('z');
    assert.ok(again.ok);
    const zReady = leader.ready();
    leader.advanceBeforeDurable(zReady);
    ack(leader, 'b', again.index);
    ack(leader, 'c', again.index);
    assert.equal(leader.status().commit, again.index, 'two followers commit without the leader');
    assert.equal(leader.status().durableIndex, second.index);
  });

  it('a sync report for entries a conflicting write replaced changes nothing; only a leader may advance before durable', () => {
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    drainMessages(leader);
    const proposal = leader.propose('x');
    assert.ok(proposal.ok);
    leader.advanceBeforeDurable(leader.ready());
    // A new leader of term 9 replaces the entry at that index.
    leader.step({ type: 'AppendEntries', from: 'b', to: 'a', term: 9, prevLogIndex: proposal.index - 1, prevLogTerm: proposal.term, entries: [{ index: proposal.index, term: 9, type: 'noop', data: '' }], commit: 0 });
    const followerReady = leader.ready();
    assert.throws(() => leader.advanceBeforeDurable(followerReady), /made as follower|new term or vote/);
    leader.advance(followerReady);
    assert.equal(leader.status().durableIndex, proposal.index, 'the new entry is durable with its Ready');
    leader.entriesDurable(proposal.index, proposal.term); // the old write's sync ends late
    assert.equal(leader.status().durableIndex, proposal.index);
    assert.equal(leader.status().lastLogTerm, 9);
  });

  it('does not commit an entry of an earlier term by counting replicas (figure 8, §5.4.2)', () => {
    // a holds an entry of term 2 it never committed; as leader of term 4 it must not commit it
    // just because b also holds it: only its own no-op of term 4 can carry it.
    const leader = makeCore({ term: 3, logTerms: [1, 2] , commit: 1 });
    electLeader(leader);
    drainMessages(leader);
    const term = leader.status().term;
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: true, matchIndex: 2, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().commit, 1);
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: true, matchIndex: 3, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.equal(leader.status().commit, 3);
  });

  it('skips a whole conflicting term per round trip when backtracking (§5.3)', () => {
    const leader = makeCore({ term: 5, logTerms: [1, 1, 4, 4, 4] , commit: 2 });
    electLeader(leader);
    drainMessages(leader);
    // b holds terms [1, 1, 3, 3, 3, 3]: no term-3 entries here, so next goes to its first term-3 index.
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: leader.status().term, success: false, matchIndex: 0, rejectedIndex: 5, conflictIndex: 3, conflictTerm: 3 });
    const [append] = ofType(drainMessages(leader), 'AppendEntries');
    assert.equal(append.prevLogIndex, 2);
  });
});

describe('Raft: pipelined replication with an inflight window (flow control)', () => {
  it('a leader keeps up to inflightMessagesMax appends in flight to a follower in step, then waits for acks', () => {
    const inflightMessagesMax = 4;
    const leader = makeCore({ term: 1, config: { inflightMessagesMax } });
    electLeader(leader);
    drainMessages(leader);
    const term = leader.status().term;
    // b acknowledges the no-op: it is in step (replicate), so appends now go out without waiting.
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: true, matchIndex: 1, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    drainMessages(leader);
    const appendsToB = () => ofType(drainMessages(leader), 'AppendEntries').filter((m) => m.to === 'b');
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      leader.propose(`w${i}`);
      sent += appendsToB().length;
    }
    assert.equal(sent, inflightMessagesMax, 'one append per proposal until the window is full');
    // An ack of the first two frees two slots: what waited goes out, batched.
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term, success: true, matchIndex: 3, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    const after = appendsToB();
    assert.ok(after.length >= 1 && after.length <= 2, `${after.length} appends after freeing two slots`);
    assert.equal(after.at(-1)!.entries.at(-1)!.index, leader.status().lastIndex, 'the rest of the log goes out');
  });
});

describe('Raft: linearizable reads (ReadIndex, §6.4)', () => {
  it('the leader serves a read only after a quorum acknowledged a heartbeat sent after it', () => {
    const cores = new Map(voters3.map((id) => [id, makeCore({ id })]));
    const leader = cores.get('a')!;
    leader.campaign();
    exchange(cores);
    assert.equal(leader.status().role, 'leader');
    leader.readIndex('r1');
    const ready = leader.ready();
    assert.deepEqual(ready.readStates, []);
    const heartbeats = ofType([...ready.messages], 'Heartbeat');
    assert.equal(heartbeats.length, 2);
    leader.advance(ready);
    leader.step({ type: 'HeartbeatResponse', from: 'b', to: 'a', term: leader.status().term, seq: heartbeats[0].seq, lastLogIndex: 1 });
    const [confirmed] = drainReadies(leader);
    assert.deepEqual(confirmed.readStates, [{ requestId: 'r1', index: leader.status().commit }]);
  });

  it('a leader does not answer reads before it committed an entry of its own term', () => {
    const leader = makeCore({ term: 1 });
    electLeader(leader);
    const heartbeats = ofType(drainMessages(leader), 'AppendEntries');
    assert.ok(heartbeats.length > 0);
    leader.readIndex('early');
    const seq = ofType(drainMessages(leader), 'Heartbeat')[0].seq;
    leader.step({ type: 'HeartbeatResponse', from: 'b', to: 'a', term: leader.status().term, seq, lastLogIndex: 0 });
    assert.deepEqual(drainReadies(leader).flatMap((r) => r.readStates), []);
    leader.step({ type: 'AppendEntriesResponse', from: 'b', to: 'a', term: leader.status().term, success: true, matchIndex: 1, rejectedIndex: 0, conflictIndex: 0, conflictTerm: 0 });
    assert.deepEqual(drainReadies(leader).flatMap((r) => r.readStates), [{ requestId: 'early', index: 1 }]);
  });

  it('a follower gets its read index from the leader', () => {
    const cores = new Map(voters3.map((id) => [id, makeCore({ id })]));
    cores.get('a')!.campaign();
    exchange(cores);
    const follower = cores.get('b')!;
    follower.readIndex('f1');
    const readStates: unknown[] = [];
    for (let round = 0; round < 10; round++) {
      for (const core of cores.values()) {
        for (const ready of drainReadies(core)) {
          if (core === follower) readStates.push(...ready.readStates);
          for (const message of ready.messages) cores.get(message.to)!.step(message);
        }
      }
    }
    assert.deepEqual(readStates, [{ requestId: 'f1', index: cores.get('a')!.status().commit }]);
  });

  it('a follower with no known leader fails the read at once', () => {
    const follower = makeCore({ term: 1 });
    follower.readIndex('r');
    assert.deepEqual(drainReadies(follower).flatMap((r) => r.failedReads), ['r']);
  });
});

describe('Raft: leadership transfer (§3.10) and snapshots (§5, chapter 5)', () => {
  it('the leader sends TimeoutNow to a caught-up target, which wins the next term at once', () => {
    const cores = new Map(voters3.map((id) => [id, makeCore({ id })]));
    cores.get('a')!.campaign();
    exchange(cores);
    const term = cores.get('a')!.status().term;
    assert.equal(cores.get('a')!.transferLeadership('c'), true);
    assert.equal(cores.get('a')!.propose('refused while transferring').ok, false);
    exchange(cores);
    assert.equal(cores.get('c')!.status().role, 'leader');
    assert.equal(cores.get('c')!.status().term, term + 1);
    assert.equal(cores.get('a')!.status().role, 'follower');
  });

  it('a follower behind the compacted log receives InstallSnapshot and then the rest of the log', () => {
    const cores = new Map(voters3.map((id) => [id, makeCore({ id })]));
    const leader = cores.get('a')!;
    leader.campaign();
    exchange(cores);
    const lagging = cores.get('c')!;
    cores.delete('c');
    for (let i = 0; i < 20; i++) leader.propose(`v${i}`);
    exchange(cores);
    const snapshot = leader.compact(leader.status().applied);
    leader.propose('after');
    cores.set('c', lagging);
    ticks(leader, 1); // the heartbeat answer makes the leader probe c
    const snapshotsSeen: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (const core of cores.values()) {
        for (const ready of drainReadies(core)) {
          if (core === lagging && ready.snapshot) snapshotsSeen.push(ready.snapshot.index);
          for (const message of ready.messages) cores.get(message.to)!.step(message);
        }
      }
    }
    assert.deepEqual(snapshotsSeen, [snapshot.index]);
    assert.equal(lagging.status().commit, leader.status().commit);
    assert.equal(lagging.status().lastIndex, leader.status().lastIndex);
  });

  for (const proposalsAfterWipe of [0, 3]) {
    it(`a follower that lost its whole log (disk wiped, restarted) is caught up by the same leader (${proposalsAfterWipe} proposals after)`, () => {
      const cores = new Map(voters3.map((id) => [id, makeCore({ id })]));
      const leader = cores.get('a')!;
      leader.campaign();
      exchange(cores);
      for (let i = 0; i < 10; i++) leader.propose(`v${i}`);
      exchange(cores);
      assert.equal(leader.status().progress.find((p) => p.id === 'c')!.match, leader.status().lastIndex);
      cores.set('c', makeCore({ id: 'c' })); // the same id, an empty disk
      for (let i = 0; i < proposalsAfterWipe; i++) leader.propose(`after wipe ${i}`);
      for (let round = 0; round < 5; round++) {
        ticks(leader, 1);
        exchange(cores);
      }
      const wiped = cores.get('c')!;
      assert.equal(wiped.status().lastIndex, leader.status().lastIndex);
      assert.equal(wiped.status().commit, leader.status().commit);
      assert.equal(wiped.status().leaderCommit, leader.status().commit);
    });
  }

  it('calling ready() twice without advance() is a crash, not a warning', () => {
    const core = makeCore();
    core.campaign();
    core.ready();
    assert.throws(() => core.ready(), /before advance/);
    assert.throws(() => core.tick(), /outstanding/);
  });

  it('rejects an invalid configuration', () => {
    assert.throws(() => new RaftCore({ ...defaultRaftConfig, id: 'a', heartbeatTicks: 20, randomInt: () => 0 }, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], applied: 0, membership: { voters: ['a'] } }), /heartbeatTicks/);
  });
});
