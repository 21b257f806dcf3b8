// Records every operation's invocation and completion, in real-time order, in the checker's
// history format (test/checker/history.ts) plus what a report needs: times, the node asked, the
// HTTP status. Events are appended in the order they happen in this (single-threaded) process.
import type { EventType, Fn, HistoryEvent, JsonValue } from '../../test/checker/history.ts';

/** What the client did, finer than the checker's `f` (a create is a cas from null). */
export type OpKind = 'read' | 'write' | 'cas' | 'create' | 'delete';
export type Outcome = 'ok' | 'fail' | 'info';

export interface OpRecord {
  readonly id: number;
  readonly process: number;
  readonly kind: OpKind;
  readonly f: Fn;
  readonly key: string;
  /** The checker's input value: the written value, [expected, new] for cas, null otherwise. */
  readonly value: JsonValue;
  /** `gateway` or a node id. */
  readonly target: string;
  /** ms since the workload started. */
  readonly invokeMs: number;
  /** Position of the invoke in the history: the real-time order, without ties. */
  readonly invokeIndex: number;
  completeMs: number | null;
  /** Position of the completion; null while open. */
  completeIndex: number | null;
  outcome: Outcome | null;
  /** What an ok read returned (null = absent). */
  output: JsonValue;
  /** HTTP status, when there was an answer. */
  status: number | null;
  /** The node that served it (X-DFS-Node), when known. */
  servedBy: string | null;
  /** Why the op failed or is unknown. */
  error: string | null;
  /** The final reads after the heal, not part of the workload's counts. */
  readonly final: boolean;
}

export interface TimedEvent extends HistoryEvent {
  /** ms since the workload started; extra to the checker's format, which ignores it. */
  time: number;
}

export class Recorder {
  readonly events: TimedEvent[] = [];
  readonly ops: OpRecord[] = [];
  readonly #t0: number;

  constructor(t0 = performance.now()) {
    this.#t0 = t0;
  }

  now(): number {
    return Math.round((performance.now() - this.#t0) * 10) / 10;
  }

  invoke(process: number, kind: OpKind, key: string, value: JsonValue, target: string, final = false): OpRecord {
    const f: Fn = kind === 'create' ? 'cas' : kind;
    const op: OpRecord = {
      id: this.ops.length, process, kind, f, key, value, target, invokeMs: this.now(), invokeIndex: this.events.length,
      completeMs: null, completeIndex: null, outcome: null, output: null, status: null, servedBy: null, error: null, final,
    };
    this.ops.push(op);
    this.events.push({ process, type: 'invoke', f, key, value, time: op.invokeMs });
    return op;
  }

  complete(op: OpRecord, outcome: Outcome, details: { output?: JsonValue; status?: number | null; servedBy?: string | null; error?: string | null } = {}): void {
    if (op.outcome !== null) throw new Error(`op ${op.id} completed twice`);
    op.outcome = outcome;
    op.completeMs = this.now();
    op.completeIndex = this.events.length;
    op.output = outcome === 'ok' && op.f === 'read' ? (details.output ?? null) : null;
    op.status = details.status ?? null;
    op.servedBy = details.servedBy ?? null;
    op.error = details.error ?? null;
    const value = op.f === 'read' ? op.output : op.value;
    this.events.push({ process: op.process, type: outcome as EventType, f: op.f, key: op.key, value, time: op.completeMs });
  }

  /** Ops still open (the run ended while they waited) become info. */
  closeOpen(reason: string): void {
    for (const op of this.ops) if (op.outcome === null) this.complete(op, 'info', { error: reason });
  }

  /** The events of one key, for a per-key check. */
  eventsOf(key: string): TimedEvent[] {
    return this.events.filter((e) => e.key === key);
  }

  keys(): string[] {
    return [...new Set(this.ops.map((op) => op.key))];
  }
}
