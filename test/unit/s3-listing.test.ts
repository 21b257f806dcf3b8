// ListObjects V1/V2 against a reference model, over random key sets: every page followed by its
// continuation token (V2) or marker (V1) must give, in order, exactly the keys and common
// prefixes S3's rules give. The native listing is served from memory in pages of 3 names, so
// common prefixes that span native pages (skipped by jumping the cursor) are exercised too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { listObjectsV1, listObjectsV2 } from '../../gateway/src/s3/list-objects.ts';
import { NativeClient } from '../../gateway/src/s3/native-client.ts';
import type { S3Call } from '../../gateway/src/s3/s3-call.ts';

const bucket = 'bkt';
/** Names per native page: small, so that listings cross many pages. */
const nativePage = 3;

function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The native `GET /files` (prefix, exclusive after, a page and its next cursor) and `GET /buckets/<b>`, from memory. */
function nativeOver(names: readonly string[]): NativeClient {
  const sorted = [...names].sort(byteCompare);
  return new NativeClient((request) => {
    const url = new URL(request.url);
    if (url.pathname === `/buckets/${bucket}`) return Response.json({ name: bucket, created: new Date(0).toISOString() });
    assert.equal(url.pathname, '/files');
    const prefix = url.searchParams.get('prefix') ?? '';
    const after = url.searchParams.get('after');
    const matching = sorted.filter((name) => name.startsWith(prefix) && (after === null || byteCompare(name, after) > 0));
    const page = matching.slice(0, nativePage);
    const files = page.map((name) => ({ name, size: 1, etag: '0'.repeat(64), version: 1, contentType: 'x', modified: new Date(0).toISOString() }));
    return Response.json({ files, next: matching.length > nativePage ? page[page.length - 1] : null });
  });
}

type Entry = { key: string } | { prefix: string };

/** S3's rules, written plainly: keys after the marker, rolled up by the delimiter, the marker's own prefix skipped. */
function reference(keys: readonly string[], prefix: string, delimiter: string | null, after: string): Entry[] {
  const out: Entry[] = [];
  for (const key of [...keys].sort(byteCompare)) {
    if (!key.startsWith(prefix) || byteCompare(key, after) <= 0) continue;
    const at = delimiter === null ? -1 : key.indexOf(delimiter, prefix.length);
    if (at === -1) {
      out.push({ key });
      continue;
    }
    const common = key.slice(0, at + delimiter!.length);
    const last = out[out.length - 1];
    if (common === after || (last !== undefined && 'prefix' in last && last.prefix === common)) continue;
    out.push({ prefix: common });
  }
  return out;
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => name === 'Contents' || name === 'CommonPrefixes' });

interface Page {
  entries: Entry[];
  truncated: boolean;
  token?: string;
  nextMarker?: string;
}

async function page(list: typeof listObjectsV2, native: NativeClient, query: Record<string, string>): Promise<Page> {
  const call = { method: 'GET', headers: new Headers(), query: new URLSearchParams(query), native, signal: new AbortController().signal } as unknown as S3Call;
  const response = await list(call, bucket);
  assert.equal(response.status, 200);
  const result = (parser.parse(await response.text()) as { ListBucketResult: Record<string, unknown> }).ListBucketResult;
  const contents = ((result.Contents as { Key: string }[] | undefined) ?? []).map((c) => ({ key: c.Key }));
  const prefixes = ((result.CommonPrefixes as { Prefix: string }[] | undefined) ?? []).map((p) => ({ prefix: p.Prefix }));
  // An answer lists its keys, then its prefixes: put them back in name order to compare.
  const entries = [...contents, ...prefixes].sort((a, b) => byteCompare('key' in a ? a.key : a.prefix, 'key' in b ? b.key : b.prefix));
  return { entries, truncated: result.IsTruncated === 'true', token: result.NextContinuationToken as string | undefined, nextMarker: result.NextMarker as string | undefined };
}

/** A seeded generator (mulberry32): the same key sets on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function keySet(next: () => number): string[] {
  const alphabet = ['a', 'b', 'c', '/', '-', 'é'];
  const keys = new Set<string>();
  const count = 1 + Math.floor(next() * 40);
  while (keys.size < count) {
    let key = '';
    const length = 1 + Math.floor(next() * 7);
    for (let i = 0; i < length; i++) key += alphabet[Math.floor(next() * alphabet.length)];
    keys.add(key);
  }
  return [...keys];
}

describe('ListObjects against the reference model', () => {
  it('V2: every page, followed by its tokens, gives the model\'s listing', async () => {
    const next = random(14);
    for (let round = 0; round < 60; round++) {
      const keys = keySet(next);
      const native = nativeOver(keys.map((k) => `${bucket}/${k}`).concat(['bkt0/outside', 'bk/outside']));
      const prefix = ['', 'a', 'a/', 'b'][Math.floor(next() * 4)];
      const delimiter = [null, '/', '-', 'b/'][Math.floor(next() * 4)];
      const startAfter = next() < 0.3 ? keys[Math.floor(next() * keys.length)] : '';
      const maxKeys = 1 + Math.floor(next() * 5);
      const expected = reference(keys, prefix, delimiter, startAfter);
      const seen: Entry[] = [];
      let token: string | undefined;
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= expected.length + 1, 'the listing ends');
        const query: Record<string, string> = { 'list-type': '2', prefix, 'max-keys': String(maxKeys), ...(delimiter !== null ? { delimiter } : {}) };
        if (token !== undefined) query['continuation-token'] = token;
        else if (startAfter !== '') query['start-after'] = startAfter;
        const answer = await page(listObjectsV2, native, query);
        assert.ok(answer.entries.length <= maxKeys);
        seen.push(...answer.entries);
        if (!answer.truncated) break;
        token = answer.token;
      }
      assert.deepEqual(seen, expected, JSON.stringify({ keys, prefix, delimiter, startAfter, maxKeys }));
    }
  });

  it('V1: every page, followed by NextMarker (or the last key), gives the model\'s listing', async () => {
    const next = random(99);
    for (let round = 0; round < 60; round++) {
      const keys = keySet(next);
      const native = nativeOver(keys.map((k) => `${bucket}/${k}`));
      const prefix = ['', 'a', 'c/'][Math.floor(next() * 3)];
      const delimiter = [null, '/', '-'][Math.floor(next() * 3)];
      const maxKeys = 1 + Math.floor(next() * 4);
      const expected = reference(keys, prefix, delimiter, '');
      const seen: Entry[] = [];
      let marker = '';
      for (let pages = 0; ; pages++) {
        assert.ok(pages <= expected.length + 1, 'the listing ends');
        const answer = await page(listObjectsV1, native, { prefix, marker, 'max-keys': String(maxKeys), ...(delimiter !== null ? { delimiter } : {}) });
        seen.push(...answer.entries);
        if (!answer.truncated) break;
        const last = answer.entries[answer.entries.length - 1];
        marker = answer.nextMarker ?? ('key' in last ? last.key : last.prefix);
        if (delimiter !== null) assert.ok(answer.nextMarker !== undefined, 'NextMarker comes with a delimiter');
      }
      assert.deepEqual(seen, expected, JSON.stringify({ keys, prefix, delimiter, maxKeys }));
    }
  });
});
