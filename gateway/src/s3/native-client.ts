// The S3 layer speaks the native API through the gateway's own proxy, in process: every request
// gets what a native client gets (reads spread over healthy replicas and retried elsewhere, writes
// to the leader with an Idempotency-Key and replayed across a leader change, bodies streamed with
// backpressure) and the gateway stays stateless. Only the headers given here go to the nodes.

/** What an in-process request carries beside the Request: a body to stream without a web stream around it. */
export interface InProcessEnv {
  readonly inProcessBody: AsyncIterable<Uint8Array>;
}

/** The gateway's native app (Hono's `fetch`, with its env). */
export type NativeFetch = (request: Request, env?: InProcessEnv) => Response | Promise<Response>;

/** An origin that never leaves the process: the native app reads only the path and query. */
const inProcessOrigin = 'http://gateway.internal';

export interface NativeRequest {
  readonly headers?: Record<string, string>;
  /**
   * An async iterable is handed to the write proxy as it is (no web stream around it, which cost
   * about as much CPU as the pass-through itself on a large upload); Content-Length must be set.
   */
  readonly body?: AsyncIterable<Uint8Array> | Uint8Array | null;
  /** The S3 client's request: when it goes away, so does this. */
  readonly signal?: AbortSignal;
}

export class NativeClient {
  readonly #fetch: NativeFetch;

  constructor(fetch: NativeFetch) {
    this.#fetch = fetch;
  }

  async request(method: string, pathAndQuery: string, request: NativeRequest = {}): Promise<Response> {
    const { body } = request;
    const streamed = body !== undefined && body !== null && !(body instanceof Uint8Array);
    const init = { method, headers: request.headers ?? {}, body: streamed ? null : (body ?? null), signal: request.signal };
    const webRequest = new Request(`${inProcessOrigin}${pathAndQuery}`, init as RequestInit);
    return await (streamed ? this.#fetch(webRequest, { inProcessBody: body }) : this.#fetch(webRequest));
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
