// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum S3 calls CRC32C. node:zlib
// has CRC-32 (IEEE) but not this one: a byte-at-a-time table, enough for the gateway's rates
// next to SHA-256, which every upload pays anyway.

const polynomialReflected = 0x82f63b78;

const table: Uint32Array = (() => {
  const out = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ polynomialReflected : crc >>> 1;
    out[byte] = crc >>> 0;
  }
  return out;
})();

/** The CRC-32C of `bytes`, continuing from `previous` (the CRC of the bytes before them; 0 to start). */
export function crc32c(bytes: Uint8Array, previous = 0): number {
  let crc = ~previous >>> 0;
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
