// The simulated network: every message is delivered after a random delay in ticks (so messages
// reorder), may be lost or duplicated, and is dropped when its link is cut — at send time or at
// delivery time. Links are directed, so a partition can be symmetric (groups) or one-way.
import type { Message, NodeId } from '../../storage-node/src/raft/types.ts';
import type { Prng } from './prng.ts';

export interface LinkSettings {
  /** Probability that a message is lost. */
  lossRate: number;
  /** Probability that a message is delivered twice (each copy with its own delay). */
  dupRate: number;
  /** Delay of a message in ticks, uniform in [delayMin, delayMax]; at least 1. */
  delayMin: number;
  delayMax: number;
}

export interface Delivery {
  readonly at: number;
  readonly seq: number;
  readonly message: Message;
  /** For InstallSnapshot: the sender's snapshot bytes (the KV state it captured). */
  readonly snapshotData: string | null;
}

export type DropReason = 'loss' | 'cut';

export class Network {
  settings: LinkSettings;
  private readonly blocked = new Set<string>();
  private queue: Delivery[] = [];
  private seq = 0;
  readonly stats = { sent: 0, delivered: 0, lost: 0, cut: 0, duplicated: 0 };

  constructor(
    private readonly rng: Prng,
    settings: LinkSettings,
    private readonly onDrop?: (message: Message, reason: DropReason) => void,
  ) {
    this.settings = { ...settings };
  }

  canSend(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  /** Cut the link from → to only (to may still send to from). */
  cutOneWay(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Symmetric partition: nodes in different groups cannot talk in either direction. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (let i = 0; i < groups.length; i++) {
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i]) for (const b of groups[j]) this.blocked.add(`${a}>${b}`);
      }
    }
  }

  heal(): void {
    this.blocked.clear();
  }

  /** The cut links, for traces: "n1>n2 n2>n1 ...". */
  describeCuts(): string {
    return this.blocked.size === 0 ? 'none' : [...this.blocked].sort().join(' ');
  }

  send(now: number, message: Message, snapshotData: string | null): void {
    this.stats.sent++;
    if (!this.canSend(message.from, message.to)) {
      this.stats.cut++;
      this.onDrop?.(message, 'cut');
      return;
    }
    if (this.rng.chance(this.settings.lossRate)) {
      this.stats.lost++;
      this.onDrop?.(message, 'loss');
      return;
    }
    const copies = this.rng.chance(this.settings.dupRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const delay = Math.max(1, this.rng.range(this.settings.delayMin, this.settings.delayMax));
      this.queue.push({ at: now + delay, seq: this.seq++, message, snapshotData });
    }
  }

  /** Removes and returns the messages due at `now`, in (time, send order). */
  takeDue(now: number): Delivery[] {
    const due: Delivery[] = [];
    const rest: Delivery[] = [];
    for (const d of this.queue) (d.at <= now ? due : rest).push(d);
    this.queue = rest;
    due.sort((x, y) => x.at - y.at || x.seq - y.seq);
    const out: Delivery[] = [];
    for (const d of due) {
      if (!this.canSend(d.message.from, d.message.to)) {
        this.stats.cut++;
        this.onDrop?.(d.message, 'cut');
        continue;
      }
      this.stats.delivered++;
      out.push(d);
    }
    return out;
  }

  inFlight(): number {
    return this.queue.length;
  }
}
