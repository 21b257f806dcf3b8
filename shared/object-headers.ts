// The headers a file version keeps beside its Content-Type and gives back on every read: the
// standard object headers S3 stores (Cache-Control, Content-Disposition, Content-Encoding,
// Content-Language, Expires) and user metadata. One record per version, keyed by lowercase header
// name as the native API takes and answers them: a standard name, or `x-dfs-meta-<name>` (the S3
// gateway maps `x-amz-meta-<name>` onto it). Shared by the nodes (the Raft commands carry it) and
// the gateway (which refuses too much metadata before sending a byte).

/** A version's stored headers: lowercase header name to value. */
export type ObjectHeaders = Readonly<Record<string, string>>;

/** The standard headers a version keeps (S3's "system-defined metadata" a client may set). */
export const storedStandardHeaders: readonly string[] = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];

/** The native API's prefix of user metadata headers. */
export const userMetadataPrefix = 'x-dfs-meta-';

/**
 * User metadata per version, in bytes: the sum of each name (after the prefix) and value, as S3
 * measures it (S3's limit: over it, 400 MetadataTooLarge).
 */
export const userMetadataBytesMax = 2 * 1024;

/** The longest value of one standard header kept, in bytes. */
export const standardHeaderBytesMax = 2 * 1024;

// An HTTP token (RFC 9110 §5.6.2), lowercase: what a header name may be.
const metadataNamePattern = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// A field value (RFC 9110 §5.5): visible ASCII, spaces and tabs, and obs-text (bytes 0x80-0xFF,
// which Node hands over as latin1 characters, one per byte), no control characters.
const headerValuePattern = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Bytes of user metadata in `headers` (names counted without the prefix). */
export function userMetadataBytes(headers: ObjectHeaders): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    // Values are latin1 (one byte per character): header bytes as they came.
    if (name.startsWith(userMetadataPrefix)) bytes += name.length - userMetadataPrefix.length + value.length;
  }
  return bytes;
}

/** Whether the user metadata in `headers` is over the limit (S3's MetadataTooLarge). */
export function isMetadataTooLarge(headers: ObjectHeaders): boolean {
  return userMetadataBytes(headers) > userMetadataBytesMax;
}

/** Why `value` is not a stored header record, or null when it is. */
export function objectHeadersProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'headers must be an object of header names to values';
  for (const [name, text] of Object.entries(value as Record<string, unknown>)) {
    const isUser = name.startsWith(userMetadataPrefix);
    if (isUser ? !metadataNamePattern.test(name.slice(userMetadataPrefix.length)) : !storedStandardHeaders.includes(name)) {
      return `headers: "${name.slice(0, 80)}" is neither a stored standard header (${storedStandardHeaders.join(', ')}) nor ${userMetadataPrefix}<lowercase token>`;
    }
    if (typeof text !== 'string' || !headerValuePattern.test(text)) return `headers: the value of ${name} is not a header value`;
    if (!isUser && text.length > standardHeaderBytesMax) return `headers: ${name} has more than ${standardHeaderBytesMax} bytes`;
  }
  const userBytes = userMetadataBytes(value as ObjectHeaders);
  if (userBytes > userMetadataBytesMax) return `headers: ${userBytes} bytes of user metadata, over the limit of ${userMetadataBytesMax}`;
  return null;
}
