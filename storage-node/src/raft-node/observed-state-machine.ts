// Wraps the replicated state machine to time each apply batch and to say when a snapshot was
// restored (the metadata state machine's onChunksReferenced does not fire for one, so the blob
// layer must scan afterwards). Behaviour is otherwise the wrapped machine's, unchanged.
import type { Entry, SnapshotMeta } from '../raft/types.ts';
import type { SnapshotInProgress, StateMachine } from './state-machine.ts';

export interface StateMachineObserver {
  readonly onApplied?: (entries: number, seconds: number) => void;
  readonly onRestored?: (meta: SnapshotMeta) => void;
}

export class ObservedStateMachine implements StateMachine {
  readonly #inner: StateMachine;
  readonly #observer: StateMachineObserver;

  constructor(inner: StateMachine, observer: StateMachineObserver) {
    this.#inner = inner;
    this.#observer = observer;
  }

  get keepsStateWithLog(): boolean {
    return this.#inner.keepsStateWithLog === true;
  }

  appliedIndex(): number {
    return this.#inner.appliedIndex();
  }

  apply(entries: readonly Entry[]): unknown[] {
    const started = performance.now();
    const results = this.#inner.apply(entries);
    this.#observer.onApplied?.(entries.length, (performance.now() - started) / 1000);
    return results;
  }

  writeSnapshot(path: string): void {
    this.#inner.writeSnapshot(path);
  }

  startSnapshot(path: string): SnapshotInProgress | null {
    return this.#inner.startSnapshot?.(path) ?? null;
  }

  restoreSnapshot(path: string, meta: SnapshotMeta): void {
    this.#inner.restoreSnapshot(path, meta);
    this.#observer.onRestored?.(meta);
  }
}
