// The workload: concurrent clients, each one process of the history, doing reads, writes,
// conditional writes (If-Match), creates (If-None-Match: *) and deletes on a few names at a
// time; half the clients through the gateway, half straight to the nodes. A name is retired after a number of
// operations and a fresh one takes its slot (as Jepsen's independent keys), so that each key's
// history stays small enough to check while operations on it still collide.
import { Prng } from '../../test/sim/prng.ts';
import type { JsonValue } from '../../test/checker/history.ts';
import { fileUrl, mutationOutcome, readOutcome, sha256 } from './client.ts';
import type { Answer, ChaosClient } from './client.ts';
import type { OpKind, OpRecord, Recorder } from './recorder.ts';

export interface Target {
  readonly name: string;
  readonly url: string;
}

export interface WorkloadOptions {
  readonly seed: number;
  readonly clients: number;
  /** Names in use at once. */
  readonly slots: number;
  /** Operations on a name before it is retired. */
  readonly opsPerKey: number;
  readonly unsafeLocalReads: boolean;
  /** Largest pause between a client's operations. */
  readonly thinkMsMax: number;
}

export const defaultWorkload = { slots: 3, opsPerKey: 150, thinkMsMax: 40 } as const;
const refusedBackoffMs = 250;

/** A byte served that does not match what it claims to be. */
export interface IntegrityProblem {
  readonly opId: number;
  readonly key: string;
  readonly target: string;
  readonly servedBy: string | null;
  readonly message: string;
}

const weights: ReadonlyArray<readonly [OpKind, number]> = [['read', 35], ['write', 20], ['cas', 20], ['create', 10], ['delete', 15]];

/** The content of a write: its id on the first line, then filler to `size` bytes. */
export function makeContent(id: string, size: number): string {
  const head = `${id}\n`;
  if (size <= head.length) return head;
  const unit = `${id}.`;
  return head + unit.repeat(Math.ceil((size - head.length) / unit.length)).slice(0, size - head.length);
}

/** The id a content carries (its first line), or null when it carries none. */
export function contentId(body: Buffer): string | null {
  const end = body.indexOf(0x0a);
  if (end <= 0 || end > 64) return null;
  return body.subarray(0, end).toString('utf8');
}

export class KeySpace {
  readonly #opsPerKey: number;
  readonly #generation: number[];
  readonly #count: number[];
  readonly all: string[] = [];

  constructor(slots: number, opsPerKey: number) {
    this.#opsPerKey = opsPerKey;
    this.#generation = Array(slots).fill(0);
    this.#count = Array(slots).fill(0);
    for (let s = 0; s < slots; s++) this.all.push(KeySpace.name(s, 0));
  }

  static name(slot: number, generation: number): string {
    return `chaos/k${slot}-g${generation}`;
  }

  /** The name of a slot for one more operation (a fresh name once the slot's is used up). */
  next(slot: number): string {
    if (this.#count[slot] >= this.#opsPerKey) {
      this.#generation[slot]++;
      this.#count[slot] = 0;
      this.all.push(KeySpace.name(slot, this.#generation[slot]));
    }
    this.#count[slot]++;
    return KeySpace.name(slot, this.#generation[slot]);
  }
}

export class Workload {
  readonly keys: KeySpace;
  readonly integrity: IntegrityProblem[] = [];
  /** The etag of every content written (or tried), by id. */
  readonly etags = new Map<string, string>();
  /** Per key: the last value some client saw there (null: absent), and the values tried there. */
  readonly #lastSeen = new Map<string, string | null>();
  readonly #tried = new Map<string, string[]>();
  readonly #options: WorkloadOptions;
  readonly #recorder: Recorder;
  readonly #client: ChaosClient;
  readonly #targets: () => readonly Target[];
  #stopping = false;
  #running: Promise<void>[] = [];

  constructor(options: WorkloadOptions, recorder: Recorder, client: ChaosClient, targets: () => readonly Target[]) {
    this.#options = options;
    this.#recorder = recorder;
    this.#client = client;
    this.#targets = targets;
    this.keys = new KeySpace(options.slots, options.opsPerKey);
  }

  start(): void {
    const root = new Prng(this.#options.seed).derive('workload');
    for (let p = 0; p < this.#options.clients; p++) this.#running.push(this.#loop(p, root.derive(`client-${p}`)));
  }

  /** Stops issuing operations; resolves when every client's last one completed. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#running);
  }

  /** Values of keys known to be current now (for a nemesis that wants chunks being read). */
  currentEtags(): string[] {
    return [...this.#lastSeen.values()].filter((v): v is string => v !== null).map((v) => this.etags.get(v)).filter((e): e is string => e !== undefined);
  }

  async #loop(process: number, rng: Prng): Promise<void> {
    let n = 0;
    while (!this.#stopping) {
      const key = this.keys.next(rng.int(this.#options.slots));
      // Even clients go through the gateway, odd ones straight to a random node: a node that
      // hangs (paused, cut off) holds up only the direct clients, so the gateway's clients show
      // what a user of the one URL sees.
      const targets = this.#targets();
      const target = process % 2 === 0 ? targets[0] : targets[1 + rng.int(targets.length - 1)];
      let kind = pickWeighted(rng);
      const seen = this.#lastSeen.get(key) ?? null;
      if (kind === 'cas' && seen === null && !rng.chance(0.2)) kind = 'create';
      const id = `w${process}-${n++}`;
      const size = rng.chance(0.7) ? rng.range(16, 600) : rng.range(1_000, 48_000);
      let op: OpRecord;
      switch (kind) {
        case 'read':
          op = await this.read(process, key, target);
          break;
        case 'write':
        case 'create':
          op = await this.#put(process, kind, key, target, id, size, null);
          break;
        case 'cas': {
          // Mostly the value last seen (it may succeed), sometimes an older one (it should fail).
          const tried = this.#tried.get(key) ?? [];
          const expected = seen !== null && rng.chance(0.8) ? seen : tried.length > 0 ? rng.pick(tried) : seen;
          op = await this.#put(process, expected === null ? 'create' : 'cas', key, target, id, size, expected);
          break;
        }
        case 'delete':
          op = await this.#delete(process, key, target);
          break;
      }
      // A refused connection (the node or gateway is down) is instant: back off as a real client
      // would, instead of filling the history with refusals.
      const refused = op.status === null && op.error?.startsWith('ECONNREFUSED') === true;
      await sleep(rng.int(this.#options.thinkMsMax + 1) + (refused ? refusedBackoffMs : 0));
    }
  }

  /** A read, recorded as linearizable (with --unsafe-local-reads it is sent as a local read). */
  async read(process: number, key: string, target: Target, options: { final?: boolean; consistency?: 'linearizable' | 'local' } = {}): Promise<OpRecord> {
    const op = this.#recorder.invoke(process, 'read', key, null, target.name, options.final ?? false);
    const consistency = options.consistency ?? (this.#options.unsafeLocalReads ? 'local' : 'linearizable');
    const answer = await this.#client.send('GET', fileUrl(target.url, key), { headers: { 'x-consistency': consistency } });
    const outcome = readOutcome(answer);
    let output: JsonValue = null;
    if (answer.status === 200 && answer.body !== null) output = this.#checkContent(op, answer);
    this.#recorder.complete(op, outcome, { output, status: answer.status, servedBy: answer.servedBy, error: answer.error });
    if (outcome === 'ok') this.#lastSeen.set(key, output as string | null);
    return op;
  }

  /** Checks a served body against its ETag and against what was written under its id. */
  #checkContent(op: OpRecord, answer: Answer): string {
    const body = answer.body!;
    const actual = sha256(body);
    const id = contentId(body);
    const problem = (message: string) => this.integrity.push({ opId: op.id, key: op.key, target: op.target, servedBy: answer.servedBy, message });
    if (answer.etag !== actual) problem(`served ${body.length} bytes hashing to ${actual} under ETag ${answer.etag}`);
    if (id === null) {
      problem(`served content with no id line (${body.length} bytes)`);
      return `unparsable:${actual.slice(0, 16)}`;
    }
    const written = this.etags.get(id);
    if (written !== undefined && written !== actual) problem(`served content for ${id} hashing to ${actual}, but what was written hashes to ${written}`);
    return id;
  }

  async #put(process: number, kind: 'write' | 'cas' | 'create', key: string, target: Target, id: string, size: number, expected: string | null): Promise<OpRecord> {
    const content = makeContent(id, size);
    const etag = sha256(content);
    this.etags.set(id, etag);
    const tried = this.#tried.get(key);
    if (tried === undefined) this.#tried.set(key, [id]);
    else if (tried.push(id) > 20) tried.shift();
    const value: JsonValue = kind === 'write' ? id : [expected, id];
    const headers: Record<string, string> = { 'content-type': 'text/plain' };
    if (kind === 'cas') headers['if-match'] = `"${this.etags.get(expected!)}"`;
    if (kind === 'create') headers['if-none-match'] = '*';
    const op = this.#recorder.invoke(process, kind, key, value, target.name);
    const answer = await this.#client.send('PUT', fileUrl(target.url, key), { headers, body: content });
    const outcome = mutationOutcome(kind, answer);
    this.#recorder.complete(op, outcome, { status: answer.status, servedBy: answer.servedBy, error: answer.error });
    if (outcome === 'ok') this.#lastSeen.set(key, id);
    return op;
  }

  async #delete(process: number, key: string, target: Target): Promise<OpRecord> {
    const op = this.#recorder.invoke(process, 'delete', key, null, target.name);
    const answer = await this.#client.send('DELETE', fileUrl(target.url, key));
    const outcome = mutationOutcome('delete', answer);
    this.#recorder.complete(op, outcome, { status: answer.status, servedBy: answer.servedBy, error: answer.error });
    if (outcome === 'ok' || answer.status === 404) this.#lastSeen.set(key, null);
    return op;
  }
}

function pickWeighted(rng: Prng): OpKind {
  const total = weights.reduce((sum, [, w]) => sum + w, 0);
  let x = rng.int(total);
  for (const [kind, w] of weights) {
    if (x < w) return kind;
    x -= w;
  }
  return 'read';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
