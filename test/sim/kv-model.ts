// The application replicated in the simulation: a key-value map. Entry data is a JSON command;
// applying one returns its result. `probe` commands are the simulation's own liveness probes and
// leave the map alone.

export type KvCommand =
  | { readonly op: 'put'; readonly key: string; readonly value: string; readonly client: number; readonly seq: number }
  | {
      readonly op: 'cas';
      readonly key: string;
      readonly expected: string | null;
      readonly value: string;
      readonly client: number;
      readonly seq: number;
    }
  | { readonly op: 'probe'; readonly seq: number };

export interface KvResult {
  /** For put: always true. For cas: whether the expected value matched and the write happened. */
  readonly applied: boolean;
}

export function encodeCommand(command: KvCommand): string {
  return JSON.stringify(command);
}

export function decodeCommand(data: string): KvCommand {
  return JSON.parse(data) as KvCommand;
}

export class KvStore {
  private readonly map: Map<string, string>;

  constructor(entries: Iterable<[string, string]> = []) {
    this.map = new Map(entries);
  }

  get(key: string): string | null {
    return this.map.get(key) ?? null;
  }

  apply(command: KvCommand): KvResult {
    switch (command.op) {
      case 'put':
        this.map.set(command.key, command.value);
        return { applied: true };
      case 'cas':
        if (this.get(command.key) !== command.expected) return { applied: false };
        this.map.set(command.key, command.value);
        return { applied: true };
      case 'probe':
        return { applied: true };
    }
  }

  /** Snapshot bytes: the sorted map and the index it was captured at. */
  serialize(index: number): string {
    const entries = [...this.map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return JSON.stringify({ index, entries });
  }

  static deserialize(data: string): { index: number; store: KvStore } {
    const parsed = JSON.parse(data) as { index: number; entries: [string, string][] };
    return { index: parsed.index, store: new KvStore(parsed.entries) };
  }
}
