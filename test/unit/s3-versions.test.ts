// ListObjectVersions' rules, over an in-memory source served in pages of 3 names: every kept
// version of each key newest first (the first IsLatest), common prefixes rolled up, max-keys
// counting both, and pages followed by their NextKeyMarker/NextVersionIdMarker give the whole
// listing once. Also the document (markers, escaping) and the router's versioning operations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { collectVersions, parseVersioningDocument, versionsDocument } from '../../gateway/src/s3/bucket-versioning.ts';
import type { NativeVersion, VersionsOutcome, VersionsRequest, VersionsSource } from '../../gateway/src/s3/bucket-versioning.ts';
import { versionOf } from '../../gateway/src/s3/get-object.ts';
import { S3Error } from '../../gateway/src/s3/s3-errors.ts';
import { route } from '../../gateway/src/s3/s3-router.ts';

const bucket = 'vers';
const pageNames = 3;

/** key → versions, newest first. */
function sourceOf(files: ReadonlyMap<string, readonly number[]>): VersionsSource {
  const keys = [...files.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return {
    async page(prefix, after) {
      const matching = keys.filter((key) => key.startsWith(prefix) && Buffer.compare(Buffer.from(key), Buffer.from(after)) > 0);
      return { names: matching.slice(0, pageNames), last: matching.length <= pageNames };
    },
    async versions(key) {
      return (files.get(key) ?? []).map((version): NativeVersion => ({ version, size: version, etag: 'e'.repeat(64), modified: '2026-01-01T00:00:00.000Z' }));
    },
  };
}

const files = new Map<string, number[]>([
  ['a', [3, 2, 1]],
  ['b', [1]],
  ['dir/x', [2, 1]],
  ['dir/y', [5]],
  ['dir/z/deep', [1]],
  ['e', [4, 3]],
  ['f/g', [1]],
]);

type Row = string; // "key@version*" (* when latest) or "key/" for a common prefix

function rows(outcome: VersionsOutcome): Row[] {
  const versions = outcome.versions.map((v) => `${v.key}@${v.version.version}${v.isLatest ? '*' : ''}`);
  return [...versions, ...outcome.commonPrefixes.map((p) => `P:${p}`)];
}

/** Follows NextKeyMarker / NextVersionIdMarker as a client would, through the document. */
async function allPages(request: Omit<VersionsRequest, 'keyMarker' | 'versionIdMarker'>): Promise<Row[]> {
  const out: Row[] = [];
  let keyMarker = '';
  let versionIdMarker: number | null = null;
  for (let round = 0; round < 100; round++) {
    const full = { ...request, keyMarker, versionIdMarker };
    const outcome = await collectVersions(sourceOf(files), full, bucket);
    out.push(...rows(outcome));
    const doc = new XMLParser({ parseTagValue: false }).parse(versionsDocument(bucket, full, outcome, (t) => t, null)) as { ListVersionsResult: Record<string, string> };
    const result = doc.ListVersionsResult;
    if (result.IsTruncated !== 'true') return out;
    keyMarker = result.NextKeyMarker!;
    versionIdMarker = result.NextVersionIdMarker === undefined ? null : Number(result.NextVersionIdMarker);
  }
  assert.fail('the pages never ended');
}

describe('ListObjectVersions', () => {
  it('lists every kept version, newest first, the newest IsLatest', async () => {
    const outcome = await collectVersions(sourceOf(files), { prefix: '', delimiter: null, maxKeys: 1000, keyMarker: '', versionIdMarker: null }, bucket);
    assert.deepEqual(rows(outcome), ['a@3*', 'a@2', 'a@1', 'b@1*', 'dir/x@2*', 'dir/x@1', 'dir/y@5*', 'dir/z/deep@1*', 'e@4*', 'e@3', 'f/g@1*']);
    assert.equal(outcome.truncated, false);
  });

  it('rolls keys up into common prefixes with a delimiter, under a prefix', async () => {
    const top = await collectVersions(sourceOf(files), { prefix: '', delimiter: '/', maxKeys: 1000, keyMarker: '', versionIdMarker: null }, bucket);
    assert.deepEqual(rows(top), ['a@3*', 'a@2', 'a@1', 'b@1*', 'e@4*', 'e@3', 'P:dir/', 'P:f/']);
    const inDir = await collectVersions(sourceOf(files), { prefix: 'dir/', delimiter: '/', maxKeys: 1000, keyMarker: '', versionIdMarker: null }, bucket);
    assert.deepEqual(rows(inDir), ['dir/x@2*', 'dir/x@1', 'dir/y@5*', 'P:dir/z/']);
  });

  it('starts after key-marker, and inside a key after version-id-marker', async () => {
    const afterA = await collectVersions(sourceOf(files), { prefix: '', delimiter: null, maxKeys: 3, keyMarker: 'a', versionIdMarker: null }, bucket);
    assert.deepEqual(rows(afterA), ['b@1*', 'dir/x@2*', 'dir/x@1']);
    assert.equal(afterA.truncated, true);
    const inA = await collectVersions(sourceOf(files), { prefix: '', delimiter: null, maxKeys: 2, keyMarker: 'a', versionIdMarker: 3 }, bucket);
    assert.deepEqual(rows(inA), ['a@2', 'a@1']);
    assert.equal(inA.truncated, true);
  });

  it('pages followed by their markers give the whole listing once, for every page size', async () => {
    for (const delimiter of [null, '/']) {
      const whole = rows(await collectVersions(sourceOf(files), { prefix: '', delimiter, maxKeys: 1000, keyMarker: '', versionIdMarker: null }, bucket));
      for (let maxKeys = 1; maxKeys <= 12; maxKeys++) {
        const paged = await allPages({ prefix: '', delimiter, maxKeys });
        // Pages list versions before common prefixes within each page; compare as sets of rows, and counts.
        assert.deepEqual([...paged].sort(), [...whole].sort(), `delimiter ${delimiter} max-keys ${maxKeys}`);
        assert.equal(paged.length, whole.length);
      }
    }
  });

  it('writes markers and escapes keys in the document', async () => {
    const outcome: VersionsOutcome = { versions: [{ key: 'a<b', version: { version: 7, size: 1, etag: 'f'.repeat(64), modified: 'm' }, isLatest: true }], commonPrefixes: [], truncated: true };
    const xml = versionsDocument(bucket, { prefix: '', delimiter: null, maxKeys: 1, keyMarker: '', versionIdMarker: null }, outcome, (t) => t, null);
    assert.match(xml, /<Key>a&lt;b<\/Key><VersionId>7<\/VersionId><IsLatest>true<\/IsLatest>/);
    assert.match(xml, /<NextKeyMarker>a&lt;b<\/NextKeyMarker><NextVersionIdMarker>7<\/NextVersionIdMarker>/);
  });

  it('lists delete markers among the versions, in version order, and pages through them', async () => {
    // Negative numbers stand for delete markers: k's newest entry is one, m's only entry is one.
    const withMarkers = new Map<string, number[]>([['j', [1]], ['k', [-4, 3, -2, 1]], ['m', [-2]]]);
    const source: VersionsSource = {
      ...sourceOf(withMarkers),
      async versions(key) {
        return (withMarkers.get(key) ?? []).map((n): NativeVersion => (n < 0 ? { version: -n, deleteMarker: true, modified: '2026-01-02T00:00:00.000Z' } : { version: n, size: n, etag: 'e'.repeat(64), modified: '2026-01-01T00:00:00.000Z' }));
      },
    };
    const request = { prefix: '', delimiter: null, maxKeys: 1000, keyMarker: '', versionIdMarker: null };
    const outcome = await collectVersions(source, request, bucket);
    const xml = versionsDocument(bucket, request, outcome, (t) => t, null);
    // The entries in document order, as a client reading the XML in order sees them.
    const entries = [...xml.matchAll(/<(Version|DeleteMarker)><Key>([^<]*)<\/Key><VersionId>(\d+)<\/VersionId><IsLatest>(true|false)<\/IsLatest>/g)].map((m) => `${m[1] === 'DeleteMarker' ? 'M' : 'V'}:${m[2]}@${m[3]}${m[4] === 'true' ? '*' : ''}`);
    assert.deepEqual(entries, ['V:j@1*', 'M:k@4*', 'V:k@3', 'M:k@2', 'V:k@1', 'M:m@2*']);
    assert.match(xml, /<DeleteMarker><Key>k<\/Key><VersionId>4<\/VersionId><IsLatest>true<\/IsLatest><LastModified>2026-01-02T00:00:00.000Z<\/LastModified><Owner><ID>raft-dfs-root<\/ID>/);
    assert.doesNotMatch(xml, /<DeleteMarker>(?:(?!<\/DeleteMarker>).)*<(ETag|Size)>/, 'a marker has no ETag or Size');
    // The SDK's parse: both lists, every entry once.
    const parsed = new XMLParser({ parseTagValue: false, isArray: (name) => name === 'Version' || name === 'DeleteMarker' }).parse(xml) as { ListVersionsResult: { Version: unknown[]; DeleteMarker: unknown[] } };
    assert.equal(parsed.ListVersionsResult.Version.length, 3);
    assert.equal(parsed.ListVersionsResult.DeleteMarker.length, 3);
    // Two entries a page: the version-id marker may be a delete marker's.
    const page = await collectVersions(source, { ...request, maxKeys: 2, keyMarker: 'k', versionIdMarker: 4 }, bucket);
    assert.deepEqual(page.versions.map((v) => `${v.key}@${v.version.version}`), ['k@3', 'k@2']);
    const next = await collectVersions(source, { ...request, maxKeys: 2, keyMarker: 'k', versionIdMarker: 2 }, bucket);
    assert.deepEqual(next.versions.map((v) => `${v.key}@${v.version.version}${v.isLatest ? '*' : ''}`), ['k@1', 'm@2*']);
  });
});

describe('versioning routes and version ids', () => {
  const routed = (method: string, target: string) => {
    const [path, query = ''] = target.split('?');
    return route(method, path!, new URLSearchParams(query), new Headers());
  };
  const notImplemented = (err: unknown) => err instanceof S3Error && err.code === 'NotImplemented';

  it('routes GetBucketVersioning, ListObjectVersions, versionId reads and versionId deletes', () => {
    assert.deepEqual(routed('GET', '/photos?versioning'), { op: 'GetBucketVersioning', bucket: 'photos' });
    assert.deepEqual(routed('GET', '/photos?versions&prefix=a'), { op: 'ListObjectVersions', bucket: 'photos' });
    assert.deepEqual(routed('GET', '/photos/k?versionId=3'), { op: 'GetObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('HEAD', '/photos/k?versionId=3'), { op: 'HeadObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('DELETE', '/photos/k?versionId=3'), { op: 'DeleteObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('PUT', '/photos?versioning'), { op: 'PutBucketVersioning', bucket: 'photos' });
    assert.throws(() => routed('PUT', '/photos?lifecycle'), notImplemented);
  });

  it('reads a VersioningConfiguration: Enabled or Suspended, MFA delete not built', () => {
    const doc = (inner: string) => `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</VersioningConfiguration>`;
    assert.equal(parseVersioningDocument(doc('<Status>Enabled</Status>')), 'Enabled');
    assert.equal(parseVersioningDocument(doc('<Status>Suspended</Status><MfaDelete>Disabled</MfaDelete>')), 'Suspended');
    const refused = (code: string) => (err: unknown) => err instanceof S3Error && err.code === code;
    assert.throws(() => parseVersioningDocument(doc('<Status>Off</Status>')), refused('MalformedXML'));
    assert.throws(() => parseVersioningDocument(doc('')), refused('MalformedXML'));
    assert.throws(() => parseVersioningDocument('<nope'), refused('MalformedXML'));
    assert.throws(() => parseVersioningDocument(doc('<Status>Enabled</Status><MfaDelete>Enabled</MfaDelete>')), refused('NotImplemented'));
  });

  it('takes a version id that is a native version number, and nothing else', () => {
    assert.equal(versionOf(new URLSearchParams('')), null);
    assert.equal(versionOf(new URLSearchParams('versionId=12')), 12);
    for (const bad of ['0', '-1', '01', 'null', 'abc', '1.5', '']) {
      assert.throws(() => versionOf(new URLSearchParams({ versionId: bad })), (err) => err instanceof S3Error && err.code === 'InvalidArgument', bad);
    }
  });
});
