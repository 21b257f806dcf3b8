// CRC-32C against the RFC 3720 (iSCSI) test vectors, and the base64 checksums S3 clients send.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crc32c } from '../../gateway/src/s3/crc32c.ts';
import { isDigestBase64, runningChecksum } from '../../gateway/src/s3/checksums.ts';

describe('CRC-32C', () => {
  it('matches the RFC 3720 vectors and the check value of "123456789"', () => {
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  it('continues across pieces as over the whole', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog');
    assert.equal(crc32c(whole.subarray(10), crc32c(whole.subarray(0, 10))), crc32c(whole));
    assert.equal(crc32c(whole), 0x22620404);
  });
});

describe('running checksums', () => {
  it('give S3 base64 values, piece by piece', () => {
    const check = (algorithm: 'crc32' | 'crc32c' | 'sha1' | 'sha256' | 'md5', expected: string) => {
      const running = runningChecksum(algorithm);
      running.update(Buffer.from('1234'));
      running.update(Buffer.from('56789'));
      assert.equal(running.digestBase64(), expected, algorithm);
      assert.ok(isDigestBase64(algorithm, expected));
    };
    check('crc32', Buffer.from('cbf43926', 'hex').toString('base64'));
    check('crc32c', Buffer.from('e3069283', 'hex').toString('base64'));
    check('sha1', Buffer.from('f7c3bc1d808e04732adf679965ccc34ca7ae3441', 'hex').toString('base64'));
    check('sha256', Buffer.from('15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225', 'hex').toString('base64'));
    check('md5', Buffer.from('25f9e794323b453885f5181f1b624d0b', 'hex').toString('base64'));
    assert.equal(isDigestBase64('crc32', 'AAAAAAA='), false);
  });
});
