// Committed entries per second of the pure Raft core: 3 cores in one process, a perfect
// in-memory network, no I/O. It measures the algorithm's own cost per entry.
import { pathToFileURL } from 'node:url';
import { defaultRaftConfig, freshInitialState } from '../../storage-node/src/raft/config.ts';
import { RaftCore } from '../../storage-node/src/raft/raft-core.ts';
import type { Message } from '../../storage-node/src/raft/types.ts';

export interface CoreBenchResult {
  readonly entries: number;
  readonly seconds: number;
  readonly committedPerSecond: number;
  readonly proposalsPerRound: number;
}

export function benchCoreCommits(options: { durationMs: number; proposalsPerRound: number }): CoreBenchResult {
  const ids = ['a', 'b', 'c'];
  let seed = 42;
  const randomInt = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const cores = new Map(ids.map((id) => [id, new RaftCore({ ...defaultRaftConfig, id, randomInt }, freshInitialState(ids))]));
  let inbox: Message[] = [];
  let appliedOnLeader = 0;
  const leader = cores.get('a')!;
  const pump = () => {
    for (let round = 0; round < 100; round++) {
      for (const core of cores.values()) {
        while (core.hasReady()) {
          const ready = core.ready();
          for (const message of ready.messages) inbox.push(message);
          if (core === leader) appliedOnLeader += ready.committed.length;
          core.advance(ready);
        }
      }
      if (inbox.length === 0) return;
      const messages = inbox;
      inbox = [];
      for (const message of messages) cores.get(message.to)!.step(message);
    }
  };
  leader.campaign();
  pump();
  if (leader.status().role !== 'leader') throw new Error('bench: no leader elected');
  const payload = 'x'.repeat(100);
  const start = performance.now();
  const startApplied = appliedOnLeader;
  let rounds = 0;
  while (performance.now() - start < options.durationMs) {
    for (let i = 0; i < options.proposalsPerRound; i++) {
      const result = leader.propose(payload);
      if (!result.ok) throw new Error(`bench: proposal refused (${result.reason})`);
    }
    pump();
    // Compact now and then so the in-memory log stays bounded, as a real node does.
    if (++rounds % 100 === 0) {
      for (const core of cores.values()) {
        const status = core.status();
        if (status.applied > status.firstIndex) core.compact(status.applied);
      }
    }
  }
  const seconds = (performance.now() - start) / 1000;
  const entries = appliedOnLeader - startApplied;
  return { entries, seconds, committedPerSecond: Math.round(entries / seconds), proposalsPerRound: options.proposalsPerRound };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const proposalsPerRound of [1, 64]) console.log(benchCoreCommits({ durationMs: 3000, proposalsPerRound }));
}
