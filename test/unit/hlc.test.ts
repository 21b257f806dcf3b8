import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HybridLogicalClock,
  compareHlc,
  decodeHlc,
  encodeHlc,
  hlcLogicalMax,
  hlcToDate,
  isEncodedHlc,
} from '../../shared/hlc.ts';
import type { HlcTimestamp } from '../../shared/hlc.ts';

/** A wall clock the test moves by hand. */
function manualClock(startMs: number) {
  const clock = { ms: startMs, read: () => clock.ms };
  return clock;
}

function assertIncreasing(timestamps: readonly HlcTimestamp[]): void {
  for (let i = 1; i < timestamps.length; i++) {
    assert.ok(compareHlc(timestamps[i - 1], timestamps[i]) < 0, `${encodeHlc(timestamps[i - 1])} !< ${encodeHlc(timestamps[i])}`);
    assert.ok(encodeHlc(timestamps[i - 1]) < encodeHlc(timestamps[i]), 'the encoding sorts like the timestamps');
  }
}

describe('hybrid logical clock', () => {
  test('follows the wall clock while it moves forward', () => {
    const wall = manualClock(1_700_000_000_000);
    const hlc = new HybridLogicalClock(wall.read);
    assert.deepEqual(hlc.now(), { wallMs: 1_700_000_000_000, logical: 0 });
    assert.deepEqual(hlc.now(), { wallMs: 1_700_000_000_000, logical: 1 });
    wall.ms += 5;
    assert.deepEqual(hlc.now(), { wallMs: 1_700_000_000_005, logical: 0 });
  });

  test('stays monotonic when the wall clock goes backwards, and resumes when it catches up', () => {
    const wall = manualClock(1_700_000_010_000);
    const hlc = new HybridLogicalClock(wall.read);
    const seen: HlcTimestamp[] = [hlc.now(), hlc.now()];
    wall.ms -= 10_000; // NTP step back by 10 s
    for (let i = 0; i < 100; i++) {
      seen.push(hlc.now());
      wall.ms += 50;
    }
    // Still within the 10 s: the wall part held, the logical part counted.
    assert.equal(seen[seen.length - 1].wallMs, 1_700_000_010_000);
    wall.ms = 1_700_000_010_001;
    seen.push(hlc.now());
    assert.deepEqual(seen[seen.length - 1], { wallMs: 1_700_000_010_001, logical: 0 });
    assertIncreasing(seen);
  });

  test('carries into the wall part when the logical counter is full', () => {
    const wall = manualClock(5_000);
    const hlc = new HybridLogicalClock(wall.read, { wallMs: 5_000, logical: hlcLogicalMax - 1 });
    const a = hlc.now();
    const b = hlc.now();
    assert.deepEqual(a, { wallMs: 5_000, logical: hlcLogicalMax });
    assert.deepEqual(b, { wallMs: 5_001, logical: 0 });
    assertIncreasing([a, b]);
  });

  test('update() moves past a remote timestamp, and later now() stays past it', () => {
    const wall = manualClock(1_000_000);
    const hlc = new HybridLogicalClock(wall.read);
    const local = hlc.now();
    const remote = { wallMs: 1_000_500, logical: 7 }; // a leader whose clock runs ahead
    const observed = hlc.update(encodeHlc(remote));
    assert.deepEqual(observed, { wallMs: 1_000_500, logical: 8 });
    const next = hlc.now();
    assertIncreasing([local, remote, observed, next]);
    // An older remote stamp does not move the clock back.
    const later = hlc.update({ wallMs: 999_000, logical: 0 });
    assertIncreasing([next, later]);
    // Once the wall clock passes everything, it wins again.
    wall.ms = 2_000_000;
    assert.deepEqual(hlc.update(remote), { wallMs: 2_000_000, logical: 0 });
  });

  test('the string encoding round-trips, has a fixed width and sorts like compareHlc', () => {
    const samples: HlcTimestamp[] = [
      { wallMs: 0, logical: 0 },
      { wallMs: 0, logical: 1 },
      { wallMs: 9, logical: hlcLogicalMax },
      { wallMs: 10, logical: 0 },
      { wallMs: 1_700_000_000_000, logical: 42 },
      { wallMs: 1_700_000_000_001, logical: 0 },
    ];
    for (const t of samples) {
      assert.deepEqual(decodeHlc(encodeHlc(t)), t);
      assert.equal(encodeHlc(t).length, encodeHlc(samples[0]).length);
      assert.ok(isEncodedHlc(encodeHlc(t)));
    }
    const shuffled = [...samples].reverse().map(encodeHlc).sort();
    assert.deepEqual(shuffled, samples.map(encodeHlc));
  });

  test('decoding rejects anything encodeHlc would not produce', () => {
    for (const text of ['', '1-2', '001700000000000-00000', '001700000000000_000000', ' 001700000000000-000000', '00170000000000a-000000']) {
      assert.throws(() => decodeHlc(text), /not an encoded HLC/, text);
      assert.equal(isEncodedHlc(text), false);
    }
    assert.throws(() => encodeHlc({ wallMs: -1, logical: 0 }));
    assert.throws(() => encodeHlc({ wallMs: 1, logical: hlcLogicalMax + 1 }));
  });

  test('converts to the Date of its wall part', () => {
    const t = { wallMs: Date.UTC(2024, 0, 2, 3, 4, 5, 6), logical: 9 };
    assert.equal(hlcToDate(t).toISOString(), '2024-01-02T03:04:05.006Z');
    assert.equal(hlcToDate(encodeHlc(t)).getTime(), t.wallMs);
  });

  test('a broken wall clock is an error, not a silent bad timestamp', () => {
    const hlc = new HybridLogicalClock(() => Number.NaN);
    assert.throws(() => hlc.now(), /wall clock/);
  });
});
