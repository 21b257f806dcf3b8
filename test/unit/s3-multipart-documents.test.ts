// The gateway's pure multipart parts: the CompleteMultipartUpload document, upload ids, and the
// S3 multipart ETag rule the nodes apply.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseCompletion, uploadIdOf } from '../../gateway/src/s3/multipart.ts';
import { S3Error } from '../../gateway/src/s3/s3-errors.ts';
import { multipartEtag } from '../../storage-node/src/metadata/multipart-rules.ts';

function refusedWith(code: string): (err: unknown) => boolean {
  return (err) => err instanceof S3Error && err.code === code;
}

describe('CompleteMultipartUpload documents', () => {
  it('reads the parts in the order given, with their ETags, ignoring the checksums SDKs add', () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
      <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Part><ETag>"aaa"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
        <Part><PartNumber> 3 </PartNumber><ETag>bbb</ETag></Part>
      </CompleteMultipartUpload>`;
    assert.deepEqual(parseCompletion(xml), [{ partNumber: 1, etag: '"aaa"' }, { partNumber: 3, etag: 'bbb' }]);
    // One part: still a list.
    assert.deepEqual(parseCompletion('<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>'), [{ partNumber: 2, etag: 'x' }]);
  });

  it('refuses documents without parts, parts without a number or an ETag, numbers out of range', () => {
    assert.throws(() => parseCompletion('<CompleteMultipartUpload></CompleteMultipartUpload>'), refusedWith('MalformedXML'));
    assert.throws(() => parseCompletion('not xml <'), refusedWith('MalformedXML'));
    assert.throws(() => parseCompletion('<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>'), refusedWith('MalformedXML'));
    assert.throws(() => parseCompletion('<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>'), refusedWith('MalformedXML'));
    assert.throws(() => parseCompletion('<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>'), refusedWith('InvalidArgument'));
    assert.throws(() => parseCompletion('<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>'), refusedWith('InvalidArgument'));
  });

  it('an upload id not shaped like ours names no upload', () => {
    assert.equal(uploadIdOf(new URLSearchParams(`uploadId=${'0a'.repeat(16)}`)), '0a'.repeat(16));
    for (const id of ['', 'abc', 'G'.repeat(32), '../x']) assert.throws(() => uploadIdOf(new URLSearchParams({ uploadId: id })), refusedWith('NoSuchUpload'), id);
  });

  it('the multipart ETag is the MD5 of the parts\' binary MD5s, then the part count', () => {
    const parts = ['first part', 'second part'].map((text) => createHash('md5').update(text).digest());
    const expected = `${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-2`;
    assert.equal(multipartEtag(parts.map((digest) => digest.toString('hex'))), expected);
  });
});
