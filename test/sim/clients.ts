// Simulated clients: a few logical processes, each with at most one operation outstanding,
// issuing puts, cas and linearizable reads, and recording the history the linearizability
// checker reads. Writes go to the node the client believes leads; reads to any node.
//
// How an operation completes:
//  - a refused proposal definitely did not happen: `fail` (the client learns the leader);
//  - a write is `ok` once the node that accepted it applies, at the proposal's index, an entry
//    of the proposal's term (a cas whose expected value did not match completes `fail`); if an
//    entry of another term is applied there, the proposal was lost: `fail`;
//  - a read is `ok` with the value once the node's ReadState is served, `fail` if the core
//    reports it failed;
//  - a timeout, a crash of the node, or a snapshot that skips past the write: `info` (unknown).
//    The process then retires and a fresh process id takes its slot (the Jepsen convention).
import type { HistoryEvent, JsonValue } from '../checker/history.ts';
import type { Entry, NodeId } from '../../storage-node/src/raft/types.ts';
import { encodeCommand, type KvResult, type KvStore } from './kv-model.ts';
import type { Prng } from './prng.ts';
import type { SimNode } from './sim-node.ts';

export interface ClientOptions {
  /** Concurrent client processes. */
  readonly count: number;
  readonly keys: readonly string[];
  /** Ticks after which an outstanding operation completes as `info`. */
  readonly timeoutTicks: number;
  /** Chance per tick that an idle client starts an operation. */
  readonly opRate: number;
  readonly readRatio: number;
  readonly casRatio: number;
}

type Fn = 'read' | 'write' | 'cas';

interface Op {
  readonly slot: number;
  readonly process: number;
  readonly f: Fn;
  readonly key: string;
  readonly value: JsonValue;
  readonly node: NodeId;
  readonly deadline: number;
  // writes
  index?: number;
  term?: number;
  data?: string;
  // reads
  requestId?: string;
}

interface Slot {
  process: number;
  op: Op | null;
  leaderGuess: NodeId | null;
}

export class Clients {
  readonly history: HistoryEvent[] = [];
  readonly stats = { invoked: 0, ok: 0, fail: 0, info: 0 };
  private readonly slots: Slot[] = [];
  /** node -> index -> writes waiting for that index to be applied there. */
  private readonly writes = new Map<NodeId, Map<number, Op[]>>();
  private readonly reads = new Map<string, Op>();
  private readonly recentValues = new Map<string, string[]>();
  private nextOpId = 1;

  constructor(
    private readonly rng: Prng,
    private readonly nodeIds: readonly NodeId[],
    private readonly options: ClientOptions,
    private readonly trace: ((line: string) => void) | null,
    private readonly onHarnessProblem: (detail: string) => void,
  ) {
    for (let i = 0; i < options.count; i++) this.slots.push({ process: i, op: null, leaderGuess: null });
  }

  outstanding(): number {
    return this.slots.filter((s) => s.op !== null).length;
  }

  /** Times out overdue operations and, when `issue`, starts new ones. */
  tick(now: number, nodes: ReadonlyMap<NodeId, SimNode>, issue: boolean): void {
    for (const slot of this.slots) {
      if (slot.op !== null && now >= slot.op.deadline) this.complete(slot.op, 'info', 'timed out');
    }
    if (!issue) return;
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i];
      if (slot.op !== null || !this.rng.chance(this.options.opRate)) continue;
      const roll = this.rng.float();
      if (roll < this.options.readRatio) this.startRead(now, i, nodes);
      else this.startWrite(now, i, nodes, roll < this.options.readRatio + this.options.casRatio ? 'cas' : 'write');
    }
  }

  private startRead(now: number, slotIndex: number, nodes: ReadonlyMap<NodeId, SimNode>): void {
    const up = this.nodeIds.filter((id) => nodes.get(id)!.up);
    if (up.length === 0) return;
    const node = nodes.get(this.rng.pick(up))!;
    const slot = this.slots[slotIndex];
    const key = this.rng.pick(this.options.keys);
    const requestId = `r${this.nextOpId++}`;
    const op: Op = { slot: slotIndex, process: slot.process, f: 'read', key, value: null, node: node.id, deadline: now + this.options.timeoutTicks, requestId };
    this.invoke(slot, op);
    // Registered before the call: an unsafe core may answer within it.
    this.reads.set(requestId, op);
    node.readIndex(requestId);
  }

  private startWrite(now: number, slotIndex: number, nodes: ReadonlyMap<NodeId, SimNode>, f: 'write' | 'cas'): void {
    const slot = this.slots[slotIndex];
    let target = slot.leaderGuess !== null ? nodes.get(slot.leaderGuess) : undefined;
    if (target === undefined || !target.up) {
      const up = this.nodeIds.filter((id) => nodes.get(id)!.up);
      if (up.length === 0) return;
      target = nodes.get(this.rng.pick(up))!;
    }
    const key = this.rng.pick(this.options.keys);
    const seq = this.nextOpId++;
    const value = `v${seq}`;
    let expected: string | null = null;
    let data: string;
    let historyValue: JsonValue;
    if (f === 'cas') {
      const recent = this.recentValues.get(key) ?? [];
      expected = recent.length > 0 && !this.rng.chance(0.1) ? this.rng.pick(recent) : null;
      data = encodeCommand({ op: 'cas', key, expected, value, client: slot.process, seq });
      historyValue = [expected, value];
    } else {
      data = encodeCommand({ op: 'put', key, value, client: slot.process, seq });
      historyValue = value;
    }
    const recent = this.recentValues.get(key) ?? [];
    recent.push(value);
    if (recent.length > 4) recent.shift();
    this.recentValues.set(key, recent);

    const op: Op = { slot: slotIndex, process: slot.process, f, key, value: historyValue, node: target.id, deadline: now + this.options.timeoutTicks, data };
    this.invoke(slot, op);
    const result = target.propose(data);
    if (result === null || !result.ok) {
      slot.leaderGuess = result?.leaderId ?? null;
      this.complete(op, 'fail', result === null ? 'node down' : `refused: ${result.reason}, leader ${result.leaderId}`);
      return;
    }
    slot.leaderGuess = target.id;
    op.index = result.index;
    op.term = result.term;
    let byIndex = this.writes.get(target.id);
    if (byIndex === undefined) this.writes.set(target.id, (byIndex = new Map()));
    const list = byIndex.get(result.index);
    if (list) list.push(op);
    else byIndex.set(result.index, [op]);
    this.trace?.(`client p${op.process} ${f} ${key} proposed at ${target.id} as ${result.index}/${result.term}`);
  }

  onApplied(node: SimNode, entry: Entry, result: KvResult | null): void {
    const byIndex = this.writes.get(node.id);
    const ops = byIndex?.get(entry.index);
    if (byIndex === undefined || ops === undefined) return;
    byIndex.delete(entry.index);
    for (const op of ops) {
      if (this.slots[op.slot].op !== op) continue;
      if (entry.term !== op.term) {
        this.complete(op, 'fail', `entry ${entry.index}/${entry.term} applied instead: proposal lost`);
      } else if (entry.data !== op.data) {
        this.onHarnessProblem(`${node.id} applied ${entry.index}/${entry.term} with data ${entry.data} but the proposal there was ${op.data}`);
        this.complete(op, 'info', 'data mismatch');
      } else if (op.f === 'cas' && result !== null && !result.applied) {
        this.complete(op, 'fail', 'cas did not match');
      } else {
        this.complete(op, 'ok', `applied ${entry.index}/${entry.term}`);
      }
    }
  }

  /** A node restored a snapshot: writes it covered are of unknown outcome to their client. */
  onRestored(node: SimNode, index: number): void {
    const byIndex = this.writes.get(node.id);
    if (byIndex === undefined) return;
    for (const [i, ops] of [...byIndex]) {
      if (i > index) continue;
      byIndex.delete(i);
      for (const op of ops) if (this.slots[op.slot].op === op) this.complete(op, 'info', 'skipped by a snapshot');
    }
  }

  onReadServed(node: SimNode, requestId: string, kv: KvStore): void {
    const op = this.reads.get(requestId);
    if (op === undefined || op.node !== node.id) return;
    this.reads.delete(requestId);
    if (this.slots[op.slot].op !== op) return;
    this.complete(op, 'ok', `served by ${node.id} at applied ${node.applied}`, kv.get(op.key));
  }

  onReadFailed(node: SimNode, requestId: string): void {
    const op = this.reads.get(requestId);
    if (op === undefined || op.node !== node.id) return;
    this.reads.delete(requestId);
    if (this.slots[op.slot].op === op) this.complete(op, 'fail', 'read refused');
  }

  onCrashed(node: SimNode): void {
    this.writes.delete(node.id);
    for (const slot of this.slots) {
      if (slot.op !== null && slot.op.node === node.id) this.complete(slot.op, 'info', `${node.id} crashed`);
    }
  }

  private invoke(slot: Slot, op: Op): void {
    slot.op = op;
    this.stats.invoked++;
    this.history.push({ process: op.process, type: 'invoke', f: op.f, key: op.key, value: op.value });
    this.trace?.(`client p${op.process} invoke ${op.f} ${op.key} ${JSON.stringify(op.value)} at ${op.node}`);
  }

  private complete(op: Op, type: 'ok' | 'fail' | 'info', why: string, readValue: string | null = null): void {
    const slot = this.slots[op.slot];
    if (slot.op !== op) return;
    slot.op = null;
    if (op.requestId !== undefined) this.reads.delete(op.requestId);
    this.stats[type]++;
    const value = op.f === 'read' ? (type === 'ok' ? readValue : null) : op.value;
    this.history.push({ process: op.process, type, f: op.f, key: op.key, value });
    this.trace?.(`client p${op.process} ${type} ${op.f} ${op.key} ${JSON.stringify(value)} (${why})`);
    if (type === 'info') slot.process += this.options.count;
  }
}
