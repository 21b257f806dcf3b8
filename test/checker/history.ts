// History format for the linearizability checker (the public contract).
// A history is a JSON array of events in real-time order; an operation is an
// `invoke` followed later by exactly one completion from the same process.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
export type Fn = 'read' | 'write' | 'cas' | 'delete';
export type EventType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  process: number;
  type: EventType;
  f: Fn;
  key: string;
  value: JsonValue;
}

export interface Operation {
  /** Index in the array returned by toOperations. */
  id: number;
  process: number;
  f: Fn;
  key: string;
  /** Input: the written value, `[expected, new]` for cas, null for read/delete. */
  value: JsonValue;
  /** What an ok read returned (null = absent); null otherwise. */
  output: JsonValue;
  /** An invoke never completed counts as `info`. */
  status: 'ok' | 'fail' | 'info';
  /** Index of the invoke event: event positions are the clock. */
  call: number;
  /** Index of the completion event, or Infinity for `info` (it may take effect any time later). */
  return: number;
}

export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
}

const FNS: readonly string[] = ['read', 'write', 'cas', 'delete'];
const TYPES: readonly string[] = ['invoke', 'ok', 'fail', 'info'];

/** Canonical form for comparing values: strict equality for primitives, JSON text for objects. */
export function valueKey(v: JsonValue): string {
  return JSON.stringify(v);
}

export function formatValue(v: JsonValue): string {
  return v === null ? 'null' : JSON.stringify(v);
}

function isJsonValue(v: unknown): v is JsonValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJsonValue);
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    return (proto === Object.prototype || proto === null) && Object.values(v).every(isJsonValue);
  }
  return false;
}

function fail(index: number, msg: string): never {
  throw new HistoryFormatError(`event #${index}: ${msg}`);
}

/** Checks the value an invoke carries against what its `f` requires. */
function checkInvokeValue(index: number, f: Fn, value: JsonValue): void {
  switch (f) {
    case 'read':
    case 'delete':
      if (value !== null) fail(index, `${f} invoke must have value null, got ${formatValue(value)}`);
      return;
    case 'write':
      // A null write would be a delete in disguise; almost certainly a producer bug.
      if (value === null) fail(index, 'write value must not be null (use delete)');
      return;
    case 'cas':
      if (!Array.isArray(value) || value.length !== 2) {
        fail(index, `cas value must be [expected, new], got ${formatValue(value)}`);
      }
      if (value[1] === null) fail(index, 'cas new value must not be null');
      return;
  }
}

function parseEvent(raw: unknown, index: number): HistoryEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(index, 'must be an object');
  const e = raw as Record<string, unknown>;
  if (typeof e.process !== 'number' || !Number.isInteger(e.process)) {
    fail(index, `"process" must be an integer, got ${JSON.stringify(e.process)}`);
  }
  if (typeof e.type !== 'string' || !TYPES.includes(e.type)) {
    fail(index, `"type" must be one of ${TYPES.join('|')}, got ${JSON.stringify(e.type)}`);
  }
  if (typeof e.f !== 'string' || !FNS.includes(e.f)) {
    fail(index, `"f" must be one of ${FNS.join('|')}, got ${JSON.stringify(e.f)}`);
  }
  if (typeof e.key !== 'string' || e.key === '') {
    fail(index, `"key" must be a non-empty string, got ${JSON.stringify(e.key)}`);
  }
  if (!('value' in e)) fail(index, 'missing "value" (use null when there is none)');
  if (!isJsonValue(e.value)) fail(index, '"value" must be a JSON value');
  const event: HistoryEvent = {
    process: e.process,
    type: e.type as EventType,
    f: e.f as Fn,
    key: e.key,
    value: e.value,
  };
  if (event.type === 'invoke') checkInvokeValue(index, event.f, event.value);
  return event;
}

/** Validates a decoded JSON history strictly; throws HistoryFormatError naming the bad event. */
export function parseHistory(json: unknown): HistoryEvent[] {
  if (!Array.isArray(json)) throw new HistoryFormatError('history must be a JSON array of events');
  const events = json.map(parseEvent);
  toOperations(events); // validates the pairing of invokes and completions
  return events;
}

/**
 * Pairs each invoke with its process's next completion. Returns every operation
 * (including failed ones) in invoke order; throws HistoryFormatError on bad pairing.
 */
export function toOperations(events: readonly HistoryEvent[]): Operation[] {
  const ops: Operation[] = [];
  const open = new Map<number, Operation>(); // process -> outstanding op
  events.forEach((e, index) => {
    if (e.type === 'invoke') {
      const prev = open.get(e.process);
      if (prev) fail(index, `process ${e.process} invokes again while its ${prev.f} from event #${prev.call} is outstanding`);
      checkInvokeValue(index, e.f, e.value);
      const op: Operation = {
        id: ops.length, process: e.process, f: e.f, key: e.key, value: e.value,
        output: null, status: 'info', call: index, return: Infinity,
      };
      ops.push(op);
      open.set(e.process, op);
      return;
    }
    const op = open.get(e.process);
    if (!op) fail(index, `${e.type} from process ${e.process}, which has no outstanding invoke`);
    if (op.f !== e.f || op.key !== e.key) {
      fail(index, `${e.type} ${e.f} of key ${JSON.stringify(e.key)} completes a ${op.f} of key ${JSON.stringify(op.key)} (event #${op.call})`);
    }
    open.delete(e.process);
    if (op.f === 'read') {
      if (e.type !== 'ok' && e.value !== null) fail(index, `a read that completes ${e.type} must have value null`);
      if (e.type === 'ok') op.output = e.value;
    } else if (valueKey(e.value) !== valueKey(op.value)) {
      fail(index, `completion value ${formatValue(e.value)} differs from the invoke's ${formatValue(op.value)} (event #${op.call})`);
    }
    op.status = e.type as 'ok' | 'fail' | 'info';
    op.return = e.type === 'info' ? Infinity : index;
  });
  return ops;
}

export function groupByKey(ops: readonly Operation[]): Map<string, Operation[]> {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  return byKey;
}
