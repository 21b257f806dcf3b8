// The Raft core must stay pure and deterministic so that a simulation replays any run from its
// seed: no clock, timers, randomness, I/O or package imports inside storage-node/src/raft/.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const raftDir = fileURLToPath(new URL('../../storage-node/src/raft/', import.meta.url));

const forbidden: [RegExp, string][] = [
  [/\bMath\.random\b/, 'Math.random (inject randomness through RaftConfig.randomInt)'],
  [/\bDate\b/, 'Date (time is ticks)'],
  [/\bperformance\b/, 'performance (time is ticks)'],
  [/\bset(Timeout|Interval|Immediate)\b/, 'timers (the driver ticks the core)'],
  [/\bprocess\./, 'process (no environment inside the core)'],
  [/\basync\b|\bawait\b|\bPromise\b/, 'asynchrony (the core answers synchronously)'],
  [/\bcrypto\b/, 'crypto (randomness is injected)'],
];

function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

describe('the Raft core folder is pure', () => {
  const files = readdirSync(raftDir).filter((name) => name.endsWith('.ts'));

  it('has source files to check', () => {
    assert.ok(files.includes('raft-core.ts'));
  });

  for (const name of files) {
    it(`${name} uses no clock, timers, randomness, I/O or packages`, () => {
      const source = stripComments(readFileSync(join(raftDir, name), 'utf8'));
      for (const [pattern, what] of forbidden) {
        assert.doesNotMatch(source, pattern, `${name} uses ${what}`);
      }
      for (const [, specifier] of source.matchAll(/from\s+'([^']+)'/g)) {
        const allowed = specifier.startsWith('./') || specifier === '../../../shared/assert.ts';
        assert.ok(allowed, `${name} imports ${specifier}: the core imports only its own folder and shared/assert.ts`);
      }
    });
  }
});
