import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { PartRecord } from '../../storage-node/src/metadata/multipart-statements.ts';
import { UploadDigests, uploadDigestsMax } from '../../storage-node/src/files/upload-digests.ts';

/** An upload's stored parts as the state machine would give them; `content` is what reading one back yields. */
class Parts {
  readonly stored = new Map<string, { record: PartRecord; content: Buffer }>();
  reads = 0;
  /** Resolves a pending read's hashing only when released (to replace a part mid-read). */
  gate: Promise<void> | null = null;

  put(uploadId: string, partNumber: number, text: string): PartRecord {
    const content = Buffer.from(text);
    const record: PartRecord = { uploadId, partNumber, size: content.length, md5: '', sha256: createHash('sha256').update(content).digest('hex'), chunks: [], chunkSizes: [], modifiedMs: 0 };
    this.stored.set(`${uploadId}/${partNumber}`, { record, content });
    return record;
  }

  digests(): UploadDigests {
    return new UploadDigests(
      (uploadId, partNumber) => this.stored.get(`${uploadId}/${partNumber}`)?.record ?? null,
      async (part, into) => {
        this.reads++;
        const content = this.stored.get(`${part.uploadId}/${part.partNumber}`)!.content;
        if (this.gate !== null) await this.gate;
        into.update(content);
      },
    );
  }

  records(uploadId: string, numbers: number[]): PartRecord[] {
    return numbers.map((n) => this.stored.get(`${uploadId}/${n}`)!.record);
  }
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the running digest of a multipart upload', () => {
  it('covers the parts 1..n as they arrive in any order, and completing only finishes it', async () => {
    const parts = new Parts();
    const digests = parts.digests();
    for (const [n, text] of [[3, 'three '], [1, 'one '], [2, 'two ']] as const) {
      parts.put('u', n, text);
      digests.partStored('u', n);
    }
    const { hash, covered } = await digests.take('u', parts.records('u', [1, 2, 3]));
    assert.equal(covered, 3);
    assert.equal(hash.digest('hex'), sha('one two three '));
    assert.equal(parts.reads, 3, 'each part read back once');
    assert.equal(digests.size, 0, 'taken uploads are forgotten');
  });

  it('starts over when a part it covered is replaced, and skips a part replaced while it was read', async () => {
    const parts = new Parts();
    const digests = parts.digests();
    parts.put('u', 1, 'a');
    digests.partStored('u', 1);
    parts.put('u', 2, 'b');
    digests.partStored('u', 2);
    parts.put('u', 1, 'A'); // replaced after it was covered
    digests.partStored('u', 1);
    let result = await digests.take('u', parts.records('u', [1, 2]));
    assert.equal(result.covered, 2);
    assert.equal(result.hash.digest('hex'), sha('Ab'));

    let release!: () => void;
    parts.gate = new Promise((resolve) => (release = resolve));
    parts.put('v', 1, 'old');
    digests.partStored('v', 1); // being read now, held at the gate
    await new Promise((resolve) => setImmediate(resolve));
    parts.put('v', 1, 'new');
    digests.partStored('v', 1);
    parts.gate = null;
    release();
    result = await digests.take('v', parts.records('v', [1]));
    assert.equal(result.covered, 1);
    assert.equal(result.hash.digest('hex'), sha('new'));
  });

  it('covers nothing for a completion that lists other parts, or an upload it never saw', async () => {
    const parts = new Parts();
    const digests = parts.digests();
    for (const n of [1, 2, 3]) {
      parts.put('u', n, `p${n}`);
      digests.partStored('u', n);
    }
    assert.equal((await digests.take('u', parts.records('u', [1, 3]))).covered, 0);
    assert.equal((await digests.take('never', [])).covered, 0);
  });

  it(`follows at most ${uploadDigestsMax} uploads, dropping the least recently written`, async () => {
    const parts = new Parts();
    const digests = parts.digests();
    for (let i = 0; i <= uploadDigestsMax; i++) {
      parts.put(`u${i}`, 1, `x${i}`);
      digests.partStored(`u${i}`, 1);
    }
    assert.equal(digests.size, uploadDigestsMax);
    assert.equal((await digests.take('u0', parts.records('u0', [1]))).covered, 0, 'the oldest was dropped');
    assert.equal((await digests.take(`u${uploadDigestsMax}`, parts.records(`u${uploadDigestsMax}`, [1]))).covered, 1);
  });
});
