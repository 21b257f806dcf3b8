import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidName, nameBytesMax, nameInPath, originForm, targetPath, validateName } from '../../shared/names.ts';

function reasonFor(name: unknown): string {
  const check = validateName(name);
  assert.equal(check.ok, false, `${JSON.stringify(name)} should be rejected`);
  return check.ok ? '' : check.reason;
}

describe('file names (DESIGN.md "Names")', () => {
  test('accepts ordinary names, dots inside segments, Unicode and exactly 1024 bytes', () => {
    const names = [
      'a',
      'a/b/c',
      'photos/2024/cat.jpg',
      '.hidden',
      'dir/.config',
      '...',
      'a/..b/c..',
      'back\\slash and spaces',
      'été/😀/日本語',
      '\uFFFD',
      'x'.repeat(nameBytesMax),
      'é'.repeat(nameBytesMax / 2), // 2 bytes each
    ];
    for (const name of names) assert.deepEqual(validateName(name), { ok: true }, name);
  });

  test('rejects the empty name', () => {
    assert.match(reasonFor(''), /empty/);
  });

  test('rejects more than 1024 UTF-8 bytes, counting bytes not characters', () => {
    assert.match(reasonFor('x'.repeat(nameBytesMax + 1)), /longer than 1024 bytes/);
    assert.match(reasonFor('é'.repeat(nameBytesMax / 2) + 'x'), /longer than 1024 bytes/);
    assert.match(reasonFor('😀'.repeat(nameBytesMax / 4 + 1)), /longer than 1024 bytes/); // 257 characters
  });

  test('rejects a leading slash', () => {
    assert.match(reasonFor('/a'), /starts with '\/'/);
    assert.match(reasonFor('/'), /starts with '\/'/);
  });

  test('rejects empty segments: trailing slash and double slash', () => {
    assert.match(reasonFor('a/'), /ends with '\/'/);
    assert.match(reasonFor('a//b'), /empty segment/);
  });

  test("rejects '.' and '..' segments anywhere", () => {
    for (const name of ['.', '..', 'a/.', 'a/..', './a', '../a', 'a/./b', 'a/../b']) {
      assert.match(reasonFor(name), /contains a '\.\.?' segment/, name);
    }
  });

  test('rejects control characters (C0, DEL, C1) and says which', () => {
    assert.match(reasonFor('a\u0000b'), /control character \(U\+0000\) at character 2/);
    assert.match(reasonFor('line\nbreak'), /U\+000A/);
    assert.match(reasonFor('tab\there'), /U\+0009/);
    assert.match(reasonFor('del\u007f'), /U\+007F/);
    assert.match(reasonFor('c1\u0085'), /U\+0085/);
  });

  test('rejects text with no UTF-8 form (unpaired surrogates)', () => {
    assert.match(reasonFor('a\uD800'), /not valid UTF-8/);
    assert.match(reasonFor('\uDC00b'), /not valid UTF-8/);
  });

  test('rejects non-strings', () => {
    for (const value of [undefined, null, 42, ['a']]) assert.match(reasonFor(value), /must be a string/);
    assert.equal(isValidName(42), false);
    assert.equal(isValidName('ok'), true);
  });
});

describe('names in raw request targets (shared by nodes and gateway)', () => {
  test('keeps the target as sent: no dot segment resolved, nothing decoded', () => {
    assert.equal(originForm('/files/a/%2E%2E/b?versions'), '/files/a/%2E%2E/b?versions');
    assert.equal(targetPath('/files/a/../b?x=1#frag'), '/files/a/../b');
    assert.equal(targetPath('http://example.com:8080/files/a/./b?x'), '/files/a/./b');
  });

  test('judges the decoded name: percent-encoded dots and slashes included', () => {
    assert.deepEqual(nameInPath('/files/dir/a%20b'), { ok: true, name: 'dir/a b' });
    for (const path of ['/files/a/%2E%2E/b', '/files/a%2F..%2Fb', '/upload/./b', '/files/a/../../etc/passwd']) {
      const check = nameInPath(path);
      assert.equal(check.ok, false, path);
      assert.match(check.ok ? '' : check.reason, /segment/, path);
    }
    assert.deepEqual(nameInPath('/files/%E0%A4%A'), { ok: false, reason: 'the name is not valid percent-encoded UTF-8' });
    assert.deepEqual(nameInPath('/other'), { ok: false, reason: 'the name is empty' });
  });
});
