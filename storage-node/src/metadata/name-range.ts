// Listing bounds in SQLite's name order (BINARY collation on UTF-8 text = byte order = code point
// order). JavaScript's `<` compares UTF-16 code units, which disagrees above U+FFFF, so it is
// never used on names.

/** Byte-order comparison of two names, as SQLite sorts them. */
export function compareNames(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * The smallest string greater than every string that starts with `prefix`, or null when there is
 * none (empty prefix, or nothing but U+10FFFF). UTF-8 keeps code point order and no code point's
 * encoding is a prefix of another's, so bumping the last code point gives the bound.
 */
export function prefixUpperBound(prefix: string): string | null {
  const codePoints = Array.from(prefix, (character) => character.codePointAt(0)!);
  while (codePoints.length > 0) {
    const last = codePoints.pop()!;
    if (last === 0x10ffff) continue;
    // Surrogates have no UTF-8 encoding: the next code point after U+D7FF is U+E000.
    const next = last + 1 === 0xd800 ? 0xe000 : last + 1;
    return String.fromCodePoint(...codePoints, next);
  }
  return null;
}

/** False when `text` holds an unpaired surrogate, which has no UTF-8 form (SQLite would see U+FFFD). */
export function isWellFormed(text: string): boolean {
  return !/\p{Surrogate}/u.test(text);
}
