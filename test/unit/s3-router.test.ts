// The S3 layer's pure parts: the router (operations, NotImplemented for those not built yet,
// bucket names, key decoding), the conditional-read verdicts, list tokens, error documents.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluateConditions } from '../../gateway/src/s3/conditions.ts';
import { parseCopySource } from '../../gateway/src/s3/copy-object.ts';
import { decodeToken, encodeToken } from '../../gateway/src/s3/list-objects.ts';
import { S3Error } from '../../gateway/src/s3/s3-errors.ts';
import { errorResponse } from '../../gateway/src/s3/s3-response.ts';
import { addressedPath, route } from '../../gateway/src/s3/s3-router.ts';

function routed(method: string, target: string, headers: Record<string, string> = {}) {
  const [path, query = ''] = target.split('?');
  return route(method, path, new URLSearchParams(query), new Headers(headers));
}

function refusedWith(code: string): (err: unknown) => boolean {
  return (err) => err instanceof S3Error && err.code === code;
}

describe('S3 router', () => {
  it('names each built operation from method, path and query', () => {
    assert.deepEqual(routed('GET', '/'), { op: 'ListBuckets' });
    assert.deepEqual(routed('PUT', '/photos'), { op: 'CreateBucket', bucket: 'photos' });
    assert.deepEqual(routed('PUT', '/photos/'), { op: 'CreateBucket', bucket: 'photos' });
    assert.deepEqual(routed('HEAD', '/photos'), { op: 'HeadBucket', bucket: 'photos' });
    assert.deepEqual(routed('DELETE', '/photos'), { op: 'DeleteBucket', bucket: 'photos' });
    assert.deepEqual(routed('GET', '/photos?location'), { op: 'GetBucketLocation', bucket: 'photos' });
    assert.deepEqual(routed('GET', '/photos?list-type=2&prefix=a'), { op: 'ListObjectsV2', bucket: 'photos' });
    assert.deepEqual(routed('GET', '/photos?marker=a'), { op: 'ListObjects', bucket: 'photos' });
    assert.deepEqual(routed('PUT', '/photos/a%20b/c%2Bd?x-id=PutObject'), { op: 'PutObject', bucket: 'photos', key: 'a b/c+d' });
    assert.deepEqual(routed('GET', '/photos/k?response-content-type=text%2Fplain'), { op: 'GetObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('HEAD', '/photos/k'), { op: 'HeadObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('DELETE', '/photos/k'), { op: 'DeleteObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('POST', '/photos?delete'), { op: 'DeleteObjects', bucket: 'photos' });
    assert.deepEqual(routed('PUT', '/photos/k', { 'x-amz-copy-source': '/photos/j' }), { op: 'CopyObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('POST', '/photos?delete='), { op: 'DeleteObjects', bucket: 'photos' });
    // Multipart uploads: the query keywords name them, never PutObject or GetObject.
    assert.deepEqual(routed('GET', '/photos?uploads&prefix=a'), { op: 'ListMultipartUploads', bucket: 'photos' });
    assert.deepEqual(routed('POST', '/photos/k?uploads'), { op: 'CreateMultipartUpload', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('PUT', '/photos/k?partNumber=1&uploadId=u'), { op: 'UploadPart', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('PUT', '/photos/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': '/photos/j' }), { op: 'UploadPartCopy', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('POST', '/photos/k?uploadId=u'), { op: 'CompleteMultipartUpload', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('DELETE', '/photos/k?uploadId=u'), { op: 'AbortMultipartUpload', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('GET', '/photos/k?uploadId=u&max-parts=2'), { op: 'ListParts', bucket: 'photos', key: 'k' });
    // A part of a multipart object: GetObject and HeadObject with partNumber.
    assert.deepEqual(routed('GET', '/photos/k?partNumber=2'), { op: 'GetObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('HEAD', '/photos/k?partNumber=1&versionId=3'), { op: 'HeadObject', bucket: 'photos', key: 'k' });
  });

  it('answers NotImplemented for operations not built yet, never another operation', () => {
    for (const [method, target] of [
      ['PUT', '/photos/k?partNumber=1'], // a part without an upload
      ['POST', '/photos/k'],
      ['POST', '/photos'], // browser uploads
      ['GET', '/photos?delete'],
      ['PUT', '/photos?acl'],
      ['PUT', '/photos?lifecycle'],
      ['GET', '/photos/k?tagging'],
    ] as const) {
      assert.throws(() => routed(method, target), refusedWith('NotImplemented'), `${method} ${target}`);
    }
  });

  it('virtual-host style: with a domain, a Host of <bucket>.<domain> puts the bucket in front of the path', () => {
    assert.equal(addressedPath('/k/x.txt', 'photos.s3.test:9000', 's3.test'), '/photos/k/x.txt');
    assert.equal(addressedPath('/', 'Photos.S3.Test', 's3.test'), '/photos/');
    assert.equal(addressedPath('/a%20b', 'my.dotted.bucket.s3.test', 's3.test'), '/my.dotted.bucket/a%20b');
    // Path-style still works: the domain itself, an address, another name.
    assert.equal(addressedPath('/photos/k', 's3.test:9000', 's3.test'), '/photos/k');
    assert.equal(addressedPath('/photos/k', '127.0.0.1:9000', 's3.test'), '/photos/k');
    assert.equal(addressedPath('/photos/k', 'evil-s3.test', 's3.test'), '/photos/k');
    // Without a domain, never.
    assert.equal(addressedPath('/k', 'photos.s3.test', null), '/k');
    assert.deepEqual(routed('GET', addressedPath('/k?versionId=2', 'photos.s3.test', 's3.test')), { op: 'GetObject', bucket: 'photos', key: 'k' });
    assert.deepEqual(routed('GET', addressedPath('/?list-type=2', 'photos.s3.test', 's3.test')), { op: 'ListObjectsV2', bucket: 'photos' });
  });

  it('refuses bad bucket names and methods', () => {
    assert.throws(() => routed('PUT', '/Photos'), refusedWith('InvalidBucketName'));
    assert.throws(() => routed('GET', '/ab/k'), refusedWith('InvalidBucketName'));
    assert.throws(() => routed('PUT', '/'), refusedWith('MethodNotAllowed'));
    assert.throws(() => routed('PATCH', '/photos/k'), refusedWith('MethodNotAllowed'));
    assert.throws(() => routed('GET', '/photos/%E0%A4%A'), refusedWith('InvalidArgument'));
  });
});

describe('conditional reads', () => {
  const object = { etag: 'abc', lastModifiedMs: Date.UTC(2026, 0, 2, 12, 0, 0, 500) };
  const at = (ms: number) => new Date(ms).toUTCString();
  const verdict = (headers: Record<string, string>) => evaluateConditions(new Headers(headers), object);

  it('If-Match and If-Unmodified-Since: 412 when false; If-Match decides when both are given', () => {
    assert.equal(verdict({ 'if-match': '"abc"' }), 'proceed');
    assert.equal(verdict({ 'if-match': '"x", "abc"' }), 'proceed');
    assert.equal(verdict({ 'if-match': '*' }), 'proceed');
    assert.equal(verdict({ 'if-match': '"x"' }), 'precondition-failed');
    assert.equal(verdict({ 'if-unmodified-since': at(Date.UTC(2026, 0, 2, 12, 0, 0)) }), 'proceed', 'the same second');
    assert.equal(verdict({ 'if-unmodified-since': at(Date.UTC(2026, 0, 2, 11, 59, 59)) }), 'precondition-failed');
    assert.equal(verdict({ 'if-match': '"abc"', 'if-unmodified-since': at(Date.UTC(2026, 0, 1)) }), 'proceed');
  });

  it('If-None-Match and If-Modified-Since: 304 when false; If-None-Match decides when both are given', () => {
    assert.equal(verdict({ 'if-none-match': '"abc"' }), 'not-modified');
    assert.equal(verdict({ 'if-none-match': 'W/"abc"' }), 'not-modified');
    assert.equal(verdict({ 'if-none-match': '"x"' }), 'proceed');
    assert.equal(verdict({ 'if-modified-since': at(Date.UTC(2026, 0, 2, 12, 0, 0)) }), 'not-modified');
    assert.equal(verdict({ 'if-modified-since': at(Date.UTC(2026, 0, 2, 11, 59, 59)) }), 'proceed');
    assert.equal(verdict({ 'if-none-match': '"x"', 'if-modified-since': at(Date.UTC(2027, 0, 1)) }), 'proceed');
    assert.equal(verdict({ 'if-modified-since': 'not a date' }), 'proceed');
    assert.equal(verdict({ 'if-match': '"x"', 'if-none-match': '"abc"' }), 'precondition-failed', '412 before 304');
  });
});

describe('list tokens and error documents', () => {
  it('a continuation token carries any cursor and refuses what it did not make', () => {
    for (const cursor of ['a', 'dir/sub/', `x${String.fromCodePoint(0x10ffff).repeat(3)}`, 'ü é']) assert.equal(decodeToken(encodeToken(cursor)), cursor);
    for (const bad of ['', '%%%', 'a=b', 'YQ==']) assert.throws(() => decodeToken(bad), refusedWith('InvalidArgument'), bad);
  });

  it('an error is an XML document with S3 code, status and resource; a HEAD answer has no body', async () => {
    const error = new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: 'a<b' });
    const answer = errorResponse(error, 'GET', '/photos/a%3Cb', 'REQ1');
    assert.equal(answer.status, 404);
    assert.equal(answer.headers.get('content-type'), 'application/xml');
    const text = await answer.text();
    assert.match(text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>NoSuchKey<\/Code><Message>The specified key does not exist.<\/Message><Key>a&lt;b<\/Key><Resource>\/photos\/a%3Cb<\/Resource><RequestId>REQ1<\/RequestId><\/Error>$/);
    const head = errorResponse(error, 'HEAD', '/photos/a', 'REQ2');
    assert.equal(head.status, 404);
    assert.equal(await head.text(), '');
    assert.equal(errorResponse(new S3Error('ServiceUnavailable', 'later'), 'GET', '/', 'R').headers.get('retry-after'), '1');
  });
});

describe('x-amz-copy-source', () => {
  it('reads bucket, percent-encoded key and versionId, with or without the leading slash', () => {
    assert.deepEqual(parseCopySource('photos/a%20b/c%3Fd.txt'), { bucket: 'photos', key: 'a b/c?d.txt', versionId: null });
    assert.deepEqual(parseCopySource('/photos/k?versionId=12'), { bucket: 'photos', key: 'k', versionId: 12 });
  });

  it('refuses a source without a key, a bad bucket, a bad version id or encoding', () => {
    for (const bad of ['photos', 'photos/', '/k', 'Photos/k', 'photos/k?versionId=0', 'photos/k?versionId=x', 'photos/%E0%A4%A']) {
      assert.throws(() => parseCopySource(bad), refusedWith('InvalidArgument'), bad);
    }
  });
});
