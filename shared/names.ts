// File name rules (DESIGN.md, "Names"). Names live only in SQLite and never become paths on disk,
// but clients see them as paths, so they must be unambiguous ones: no empty, `.` or `..` segment.

/** The longest name, in UTF-8 bytes. */
export const nameBytesMax = 1024;

export type NameCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const valid: NameCheck = Object.freeze({ ok: true });

function invalid(reason: string): NameCheck {
  return { ok: false, reason };
}

function hex(codePoint: number): string {
  return 'U+' + codePoint.toString(16).toUpperCase().padStart(4, '0');
}

/** Unicode category Cc: C0 controls, DEL and C1 controls. */
function isControl(codePoint: number): boolean {
  return codePoint <= 0x1f || (codePoint >= 0x7f && codePoint <= 0x9f);
}

function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint < 0x10000) return 3;
  return 4;
}

/** Printable ASCII: no control character, one UTF-8 byte per character. */
const printableAscii = /^[\x20-\x7e]*$/;

/** Checks `name` against the rules; the reason is written for the client (it goes out in a 400). */
export function validateName(name: unknown): NameCheck {
  if (typeof name !== 'string') return invalid('the name must be a string');
  if (name.length === 0) return invalid('the name is empty');
  if (name.startsWith('/')) return invalid("the name starts with '/'");
  // Printable ASCII, the usual case, has no character to reject and one byte per character: the
  // walk by code point below is for the rest (every write checks its name on each node).
  if (printableAscii.test(name)) {
    if (name.length > nameBytesMax) return invalid(`the name is longer than ${nameBytesMax} bytes in UTF-8`);
    return segmentsProblem(name);
  }
  let bytes = 0;
  let position = 0; // in code points, counted from 1 for the message
  for (const character of name) {
    position++;
    const codePoint = character.codePointAt(0)!;
    // for..of yields a lone surrogate as its own character: it has no UTF-8 encoding.
    if (codePoint >= 0xd800 && codePoint <= 0xdfff) {
      return invalid(`the name is not valid UTF-8 (unpaired surrogate ${hex(codePoint)} at character ${position})`);
    }
    if (isControl(codePoint)) {
      return invalid(`the name contains a control character (${hex(codePoint)}) at character ${position}`);
    }
    bytes += utf8Length(codePoint);
    if (bytes > nameBytesMax) return invalid(`the name is longer than ${nameBytesMax} bytes in UTF-8`);
  }
  return segmentsProblem(name);
}

/** No empty, `.` or `..` segment, and no '/' at the end. */
function segmentsProblem(name: string): NameCheck {
  const segments = name.split('/');
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === '') {
      return invalid(i === segments.length - 1 ? "the name ends with '/'" : "the name contains an empty segment ('//')");
    }
    if (segment === '.' || segment === '..') return invalid(`the name contains a '${segment}' segment`);
  }
  return valid;
}

export function isValidName(name: unknown): name is string {
  return validateName(name).ok;
}

// Names in request targets. Nodes and gateway judge a name from the raw request target, before
// anything resolves `.`/`..` segments (plain or percent-encoded), with these same functions.

/** The routes whose path after the prefix is a file name. */
const fileRoute = /^\/(?:files|upload)\/(.*)$/s;
/** The scheme and authority of an absolute-form target (`http://host:port/path`). */
const absoluteFormPrefix = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** Path and query of a raw request target as sent (an absolute-form target loses its origin, a fragment is cut). */
export function originForm(target: string): string {
  const withoutOrigin = target.replace(absoluteFormPrefix, '');
  const path = withoutOrigin.replace(/#.*$/s, '');
  return path.startsWith('/') ? path : `/${path}`;
}

/** The path of a raw request target as sent: nothing decoded, no segment resolved. */
export function targetPath(target: string): string {
  return originForm(target).replace(/\?.*$/s, '');
}

/**
 * Path and query exactly as the client sent them. `env` is the server's per-request environment:
 * under @hono/node-server it holds the Node request, whose `url` is the raw target; the web
 * Request's URL (`requestUrl`) has dot segments resolved and is only the fallback.
 */
export function rawRequestTarget(env: unknown, requestUrl: string): string {
  const target = (env as { incoming?: { url?: unknown } } | undefined)?.incoming?.url;
  if (typeof target === 'string' && target !== '') return originForm(target);
  const url = new URL(requestUrl);
  return url.pathname + url.search;
}

export type PathName = { readonly ok: true; readonly name: string } | { readonly ok: false; readonly reason: string };

/** Whether a raw path is `/files/<name>` or `/upload/<name>` (any name, even a bad one). */
export function isFileRoute(rawPath: string): boolean {
  return fileRoute.test(rawPath);
}

/** The decoded name of a raw file-route path, judged by the rules; a path that is no file route has an empty name. */
export function nameInPath(rawPath: string): PathName {
  const encoded = fileRoute.exec(rawPath)?.[1] ?? '';
  let name: string;
  try {
    name = decodeURIComponent(encoded);
  } catch {
    return { ok: false, reason: 'the name is not valid percent-encoded UTF-8' };
  }
  const check = validateName(name);
  return check.ok ? { ok: true, name } : check;
}
