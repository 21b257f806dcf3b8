// A hybrid logical clock (Kulkarni et al., "Logical Physical Clocks", 2014): wall-clock
// milliseconds plus a logical counter. Timestamps never go backwards, even when the wall clock
// does, and a node that observes another's timestamp stamps everything later after it. The
// leader stamps each Raft entry before proposing it; the state machine only stores the stamp.

export interface HlcTimestamp {
  /** Milliseconds since the Unix epoch: the largest wall-clock reading seen, here or remotely. */
  readonly wallMs: number;
  /** Orders events within the same `wallMs`. */
  readonly logical: number;
}

const wallDigits = 15; // ms epoch fits until the year 33658
const logicalDigits = 6;
/** Past this the clock moves `wallMs` on by 1 ms instead, so the encoding keeps its width. */
export const hlcLogicalMax = 10 ** logicalDigits - 1;
const wallMsMax = 10 ** wallDigits - 1;
const encodedPattern = /^(\d{15})-(\d{6})$/;

export const hlcZero: HlcTimestamp = Object.freeze({ wallMs: 0, logical: 0 });

function assertTimestamp(t: HlcTimestamp, what: string): void {
  if (!Number.isSafeInteger(t.wallMs) || t.wallMs < 0 || t.wallMs > wallMsMax) {
    throw new Error(`${what}: wall time ${String(t.wallMs)} is not a millisecond epoch`);
  }
  if (!Number.isSafeInteger(t.logical) || t.logical < 0 || t.logical > hlcLogicalMax) {
    throw new Error(`${what}: logical counter ${String(t.logical)} is out of range`);
  }
}

/** Fixed-width decimal (`001732000000123-000004`), so string order is timestamp order. */
export function encodeHlc(t: HlcTimestamp): string {
  assertTimestamp(t, 'encodeHlc');
  return `${String(t.wallMs).padStart(wallDigits, '0')}-${String(t.logical).padStart(logicalDigits, '0')}`;
}

/** The inverse of encodeHlc; throws on anything it would not have produced. */
export function decodeHlc(text: string): HlcTimestamp {
  const match = encodedPattern.exec(text);
  if (match === null) throw new Error(`"${text}" is not an encoded HLC timestamp`);
  return { wallMs: Number(match[1]), logical: Number(match[2]) };
}

export function isEncodedHlc(text: unknown): text is string {
  return typeof text === 'string' && encodedPattern.test(text);
}

export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  return a.wallMs !== b.wallMs ? a.wallMs - b.wallMs : a.logical - b.logical;
}

/** The wall-clock instant a timestamp stands for (its logical part is dropped). */
export function hlcToDate(t: HlcTimestamp | string): Date {
  return new Date(typeof t === 'string' ? decodeHlc(t).wallMs : t.wallMs);
}

/** The smallest timestamp after `t`. */
function successor(t: HlcTimestamp): HlcTimestamp {
  return t.logical < hlcLogicalMax ? { wallMs: t.wallMs, logical: t.logical + 1 } : { wallMs: t.wallMs + 1, logical: 0 };
}

export class HybridLogicalClock {
  readonly #readWallMs: () => number;
  #last: HlcTimestamp;

  /** `readWallMs` is injectable so tests (and the simulation) can move time at will. */
  constructor(readWallMs: () => number = Date.now, start: HlcTimestamp = hlcZero) {
    assertTimestamp(start, 'HybridLogicalClock start');
    this.#readWallMs = readWallMs;
    this.#last = start;
  }

  /** A timestamp for a local event: after every timestamp this clock has returned or observed. */
  now(): HlcTimestamp {
    const wallMs = this.#wall();
    this.#last = wallMs > this.#last.wallMs ? { wallMs, logical: 0 } : successor(this.#last);
    return this.#last;
  }

  /**
   * Observes a timestamp from elsewhere (a message, or the last applied entry's stamp) and returns
   * a timestamp after both it and everything before: later now() calls follow it.
   */
  update(remote: HlcTimestamp | string): HlcTimestamp {
    const observed = typeof remote === 'string' ? decodeHlc(remote) : remote;
    assertTimestamp(observed, 'HybridLogicalClock.update');
    const wallMs = this.#wall();
    const latest = compareHlc(observed, this.#last) > 0 ? observed : this.#last;
    this.#last = wallMs > latest.wallMs ? { wallMs, logical: 0 } : successor(latest);
    return this.#last;
  }

  /** The latest timestamp returned, without advancing. */
  last(): HlcTimestamp {
    return this.#last;
  }

  #wall(): number {
    const wallMs = this.#readWallMs();
    if (!Number.isSafeInteger(wallMs) || wallMs < 0 || wallMs > wallMsMax) {
      throw new Error(`the wall clock read ${String(wallMs)}, not a millisecond epoch`);
    }
    return wallMs;
  }
}
