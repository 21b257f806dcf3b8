// Builders for stepping Raft cores by hand in unit tests: no network, no timers.
import { defaultRaftConfig } from '../../storage-node/src/raft/config.ts';
import type { RaftConfig } from '../../storage-node/src/raft/config.ts';
import { RaftCore } from '../../storage-node/src/raft/raft-core.ts';
import type { Entry, Message, NodeId, Ready } from '../../storage-node/src/raft/types.ts';

export const voters3: NodeId[] = ['a', 'b', 'c'];

export interface CoreOptions {
  id?: NodeId;
  voters?: NodeId[];
  learners?: NodeId[];
  /** For a node that joined a running cluster: the index of the entry that added it. */
  joinedAt?: number;
  term?: number;
  vote?: NodeId | null;
  commit?: number;
  /** Terms of the log entries, from index 1. */
  logTerms?: number[];
  config?: Partial<RaftConfig>;
}

export function entriesWithTerms(terms: number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ index: from + i, term, type: 'normal' as const, data: `e${from + i}` }));
}

export function makeCore(options: CoreOptions = {}): RaftCore {
  const id = options.id ?? 'a';
  const entries = entriesWithTerms(options.logTerms ?? []);
  const commit = options.commit ?? 0;
  return new RaftCore(
    // randomInt(n) = 0: election timeouts are exactly electionTicks, so tests can count ticks.
    { ...defaultRaftConfig, id, randomInt: () => 0, ...options.config },
    {
      hardState: { term: options.term ?? 0, vote: options.vote ?? null, commit },
      snapshot: null,
      entries,
      applied: commit,
      membership: { voters: options.voters ?? voters3, learners: options.learners ?? [] },
      joinedAt: options.joinedAt,
    },
  );
}

/** Handles every Ready as a perfect driver would and returns them all. */
export function drainReadies(core: RaftCore): Ready[] {
  const readies: Ready[] = [];
  while (core.hasReady()) {
    const ready = core.ready();
    readies.push(ready);
    core.advance(ready);
  }
  return readies;
}

export function drainMessages(core: RaftCore): Message[] {
  return drainReadies(core).flatMap((ready) => ready.messages);
}

export function ticks(core: RaftCore, count: number): void {
  for (let i = 0; i < count; i++) core.tick();
}

export function ofType<T extends Message['type']>(messages: Message[], type: T): Extract<Message, { type: T }>[] {
  return messages.filter((message): message is Extract<Message, { type: T }> => message.type === type);
}

/** Makes `core` (id a) leader of a 3-node cluster at the next term, with votes from b and c. */
export function electLeader(core: RaftCore): void {
  core.campaign();
  drainMessages(core);
  const term = core.status().term + 1;
  for (const from of ['b', 'c']) core.step({ type: 'PreVoteResponse', from, to: core.id, term, granted: true });
  drainMessages(core);
  for (const from of ['b', 'c']) core.step({ type: 'RequestVoteResponse', from, to: core.id, term, granted: true });
}

/** Delivers messages among cores until none are left (a perfect network). */
export function exchange(cores: Map<NodeId, RaftCore>, rounds = 100): void {
  for (let round = 0; round < rounds; round++) {
    const messages: Message[] = [];
    for (const core of cores.values()) messages.push(...drainMessages(core));
    if (messages.length === 0) return;
    for (const message of messages) cores.get(message.to)?.step(message);
  }
}

/** Cores of one cluster, each knowing the same founding membership; `a` campaigns and leads. */
export function clusterLedByA(voters: NodeId[], learners: NodeId[] = [], config: Partial<RaftConfig> = {}): Map<NodeId, RaftCore> {
  const cores = new Map([...voters, ...learners].map((id) => [id, makeCore({ id, voters, learners, config })]));
  cores.get('a')!.campaign();
  exchange(cores);
  return cores;
}
