// DeleteObjects' XML: the request document parsed (keys kept as sent, Quiet, version ids, the
// limits S3 sets) and the DeleteResult built (Quiet lists errors only, keys escaped).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { XMLParser } from 'fast-xml-parser';
import { deleteKeysMax, deleteResultDocument, parseDeleteDocument } from '../../gateway/src/s3/delete-objects.ts';
import { S3Error } from '../../gateway/src/s3/s3-errors.ts';

const malformedXml = (err: unknown): boolean => err instanceof S3Error && err.code === 'MalformedXML';

describe('DeleteObjects request document', () => {
  it('reads keys as sent (spaces, escaped and numeric entities), version ids and Quiet', () => {
    const parsed = parseDeleteDocument(`<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Object><Key> a&amp;b &lt;c&gt; </Key></Object>
  <Object><Key>line&#10;two&#x41;</Key><VersionId>3</VersionId></Object>
  <Quiet>true</Quiet>
</Delete>`);
    assert.deepEqual(parsed, { quiet: true, objects: [{ key: ' a&b <c> ' }, { key: 'line\ntwoA', versionId: '3' }] });
    assert.deepEqual(parseDeleteDocument('<Delete><Object><Key>k</Key></Object></Delete>'), { quiet: false, objects: [{ key: 'k' }] });
    assert.equal(parseDeleteDocument('<Delete><Object><Key>k</Key></Object><Quiet>False</Quiet></Delete>').quiet, false);
  });

  it('refuses what is not a Delete document as MalformedXML', () => {
    for (const xml of [
      '',
      'not xml',
      '<Delete></Delete>',
      '<Delete><Object></Object></Delete>',
      '<Delete><Object><Key></Key></Object></Delete>',
      '<Delete><Object><Key>k</Key></Object><Quiet>maybe</Quiet></Delete>',
      '<Other><Object><Key>k</Key></Object></Other>',
      '<Delete><Object><Key>k</Key></Object>',
    ]) {
      assert.throws(() => parseDeleteDocument(xml), malformedXml, JSON.stringify(xml));
    }
  });

  it(`takes up to ${deleteKeysMax} keys, no more`, () => {
    const document = (count: number) => `<Delete>${'<Object><Key>k</Key></Object>'.repeat(count)}</Delete>`;
    assert.equal(parseDeleteDocument(document(deleteKeysMax)).objects.length, deleteKeysMax);
    assert.throws(() => parseDeleteDocument(document(deleteKeysMax + 1)), malformedXml);
  });
});

describe('DeleteResult document', () => {
  const outcomes = [{ key: 'a<b' }, { key: 'c', versionId: '2', error: { code: 'NotImplemented', message: 'no single versions' } }, { key: 'd' }];
  const parse = (xml: string) => new XMLParser({ parseTagValue: false, isArray: (name) => name === 'Deleted' || name === 'Error' }).parse(xml) as {
    DeleteResult: { Deleted?: { Key: string }[]; Error?: { Key: string; Code: string; VersionId?: string }[] };
  };

  it('lists every key, deleted or not, with the error code of each failure', () => {
    const xml = deleteResultDocument(outcomes, false);
    assert.match(xml, /<Key>a&lt;b<\/Key>/);
    const result = parse(xml).DeleteResult;
    assert.deepEqual(result.Deleted?.map((d) => d.Key), ['a<b', 'd']);
    assert.deepEqual(result.Error?.map((e) => [e.Key, e.VersionId, e.Code]), [['c', '2', 'NotImplemented']]);
  });

  it('lists only the failures when Quiet', () => {
    const result = parse(deleteResultDocument(outcomes, true)).DeleteResult;
    assert.equal(result.Deleted, undefined);
    assert.deepEqual(result.Error?.map((e) => e.Key), ['c']);
  });
});
