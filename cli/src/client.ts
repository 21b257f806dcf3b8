// HTTP to one DFS endpoint (a gateway or any node) through undici. Connection failures become
// "cannot reach <endpoint>", error answers become ServerError with the server's JSON code/message.
import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { CliFailure, ServerError, UsageError } from './errors.ts';
import { signRequest } from '../../shared/sigv4/sign-request.ts';
import type { AccessKey } from '../../shared/auth-mode.ts';

/** The most of an error answer's body read to find its JSON error. */
export const errorBodyBytesMax = 64 * 1024;

export const defaultEndpoint = 'http://127.0.0.1:8080';

export type Response = Dispatcher.ResponseData;

export interface RequestOptions {
  readonly headers?: Record<string, string>;
  readonly body?: Readable | string | null;
  readonly signal?: AbortSignal;
}

/** A key the client signs its requests with (SigV4, for a cluster with --auth required). */
export interface Signing {
  readonly key: AccessKey;
  readonly region: string;
}

export class DfsClient {
  /** Origin plus any base path, no trailing slash. */
  readonly endpoint: string;
  readonly #agent = new Agent();
  readonly #signing: Signing | null;

  constructor(endpoint: string, signing: Signing | null = null) {
    this.#signing = signing;
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new UsageError(`bad endpoint ${JSON.stringify(endpoint)}: not a URL (like ${defaultEndpoint})`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`bad endpoint ${JSON.stringify(endpoint)}: must be http:// or https://`);
    this.endpoint = url.origin + url.pathname.replace(/\/+$/, '');
  }

  /** Sends a request; a connection failure is a CliFailure, any HTTP status is returned. */
  async send(method: Dispatcher.HttpMethod, pathAndQuery: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.endpoint + pathAndQuery;
    let headers = options.headers;
    // An admin request carries its token in Authorization already; every other one is signed.
    if (this.#signing !== null && headers?.authorization === undefined) {
      const parsed = new URL(url);
      const queryAt = url.indexOf('?');
      const rawPath = (queryAt === -1 ? url : url.slice(0, queryAt)).slice(parsed.origin.length);
      const signed = signRequest({ method, host: parsed.host, rawPath, rawQuery: queryAt === -1 ? '' : url.slice(queryAt + 1) }, this.#signing.key, this.#signing.region);
      headers = { ...headers, ...signed };
    }
    try {
      return await request(url, { method, headers, body: options.body ?? null, signal: options.signal, dispatcher: this.#agent });
    } catch (err) {
      throw new CliFailure(`cannot reach ${this.endpoint}: ${reasonOf(err)}`);
    }
  }

  /** Sends a request and returns the answer if its status is in `expected`, else throws its ServerError. */
  async expect(method: Dispatcher.HttpMethod, pathAndQuery: string, expected: readonly number[], context: string, options: RequestOptions = {}): Promise<Response> {
    const response = await this.send(method, pathAndQuery, options);
    if (expected.includes(response.statusCode)) return response;
    throw await serverError(response, context);
  }

  /** GET of a JSON document. */
  async getJson(pathAndQuery: string, context: string): Promise<unknown> {
    const response = await this.expect('GET', pathAndQuery, [200], context);
    return readJson(response, context);
  }

  /** Closes the connections; `destroy()` also ends requests still running. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  async destroy(): Promise<void> {
    await this.#agent.destroy();
  }
}

export async function readJson(response: Response, context: string): Promise<unknown> {
  try {
    return await response.body.json();
  } catch (err) {
    throw new CliFailure(`${context}: the answer is not JSON (${reasonOf(err)})`);
  }
}

/** The ServerError for an error answer, with the JSON `{"error":{code,message}}` when the body holds one. */
export async function serverError(response: Response, context: string): Promise<ServerError> {
  const text = await readBounded(response.body, errorBodyBytesMax).catch(() => '');
  let code: string | null = null;
  let detail: string | null = null;
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string') detail = error.message;
  } catch {
    detail = text.trim().slice(0, 200) || null;
  }
  // HEAD answers carry no body: say what the status means.
  if (code === null && detail === null && response.statusCode === 404) detail = 'not found';
  return new ServerError(response.statusCode, code, detail, context);
}

/** Content-Length as a number; null when absent. */
export function contentLengthOf(response: Response): number | null {
  const text = response.headers['content-length'];
  return typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : null;
}

/** The ETag's hex SHA-256, quotes removed; null when absent or not a SHA-256. */
export function etagOf(response: Response): string | null {
  const text = response.headers.etag;
  const match = typeof text === 'string' ? /^"([0-9a-f]{64})"$/.exec(text) : null;
  return match === null ? null : match[1];
}

async function readBounded(body: Response['body'], bytesMax: number): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (total < bytesMax) parts.push(buffer.subarray(0, bytesMax - total));
    total += buffer.length;
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The most telling part of a network error: undici wraps the system error (ECONNREFUSED, ENOTFOUND…) as its cause. */
export function reasonOf(err: unknown): string {
  const error = err as { code?: unknown; message?: unknown; cause?: unknown };
  const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return `${cause.code}${typeof cause.message === 'string' ? ` (${cause.message})` : ''}`;
  if (typeof error.code === 'string' && typeof error.message === 'string') return `${error.code} (${error.message})`;
  return typeof error.message === 'string' ? error.message : String(err);
}
