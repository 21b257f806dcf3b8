// The S3 layer speaks the native API through the gateway's own proxy, in process: every request
// gets what a native client gets (reads spread over healthy replicas and retried elsewhere, writes
// to the leader with an Idempotency-Key and replayed across a leader change, bodies streamed with
// backpressure) and the gateway stays stateless. Only the headers given here go to the nodes.

/** The gateway's native app (Hono's `fetch`). */
export type NativeFetch = (request: Request) => Response | Promise<Response>;

/** An origin that never leaves the process: the native app reads only the path and query. */
const inProcessOrigin = 'http://gateway.internal';

export interface NativeRequest {
  readonly headers?: Record<string, string>;
  readonly body?: ReadableStream<Uint8Array> | Uint8Array | null;
  /** The S3 client's request: when it goes away, so does this. */
  readonly signal?: AbortSignal;
}

export class NativeClient {
  readonly #fetch: NativeFetch;

  constructor(fetch: NativeFetch) {
    this.#fetch = fetch;
  }

  async request(method: string, pathAndQuery: string, request: NativeRequest = {}): Promise<Response> {
    const init = {
      method,
      headers: request.headers ?? {},
      body: request.body ?? null,
      signal: request.signal,
      // A streamed body: sent as it is read (undici needs this for a ReadableStream).
      duplex: 'half',
    };
    return await this.#fetch(new Request(`${inProcessOrigin}${pathAndQuery}`, init as RequestInit));
  }

  /** The JSON of a successful answer. */
  static async json<T>(response: Response): Promise<T> {
    return (await response.json()) as T;
  }
}

/** `/files/<name>` with each segment percent-encoded (names have no empty, `.` or `..` segment). */
export function filePath(name: string): string {
  return `/files/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/** The `{"error":{"code","message"}}` of a native refusal (code 'unknown' when the body is not one). */
export async function nativeError(response: Response): Promise<{ code: string; message: string }> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') return { code: parsed.error.code, message: String(parsed.error.message ?? '') };
  } catch {
    // not JSON
  }
  return { code: 'unknown', message: text.slice(0, 200) };
}
