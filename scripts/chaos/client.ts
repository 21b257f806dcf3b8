// One HTTP request of the chaos workload, and what its answer means for the history. undici with
// our own deadline (so a paused node costs a timeout, never a hang) and no retries of our own.
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
import type { Outcome } from './recorder.ts';

export const opTimeoutMs = 15_000;

export interface Answer {
  /** null when no answer came (then `error` says why). */
  readonly status: number | null;
  readonly body: Buffer | null;
  /** The ETag header without quotes. */
  readonly etag: string | null;
  readonly servedBy: string | null;
  readonly error: string | null;
  /** The system error code of a failed request (ECONNREFUSED: it was never sent). */
  readonly errorCode: string | null;
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function fileUrl(base: string, name: string, query = ''): string {
  return `${base}/files/${name.split('/').map(encodeURIComponent).join('/')}${query}`;
}

export class ChaosClient {
  readonly agent = new Agent({ connect: { timeout: 5_000 }, keepAliveTimeout: 4_000, headersTimeout: 0, bodyTimeout: 0, connections: 64 });

  async send(method: 'GET' | 'PUT' | 'DELETE', url: string, options: { headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<Answer> {
    try {
      const res = await request(url, {
        method,
        dispatcher: this.agent,
        headers: options.headers,
        body: options.body,
        signal: AbortSignal.timeout(options.timeoutMs ?? opTimeoutMs),
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      const etagHeader = res.headers.etag;
      const served = res.headers['x-dfs-node'];
      return {
        status: res.statusCode,
        body,
        etag: typeof etagHeader === 'string' ? etagHeader.replace(/^W\//, '').replace(/^"|"$/g, '') : null,
        servedBy: typeof served === 'string' ? served : null,
        error: res.statusCode >= 300 ? errorText(body) : null,
        errorCode: null,
      };
    } catch (err) {
      const code = errorCode(err);
      return { status: null, body: null, etag: null, servedBy: null, error: `${code ?? (err as Error).name}: ${(err as Error).message}`, errorCode: code };
    }
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => undefined);
  }
}

function errorCode(err: unknown): string | null {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return (err as Error | undefined)?.name === 'TimeoutError' ? 'TIMEOUT' : null;
}

function errorText(body: Buffer): string {
  try {
    const json = JSON.parse(body.toString('utf8')) as { error?: { code?: string; message?: string } };
    if (json.error?.code !== undefined) return `${json.error.code}: ${json.error.message ?? ''}`.slice(0, 300);
  } catch {
    // not JSON
  }
  return body.toString('utf8').slice(0, 300);
}

/**
 * What a write, cas, create or delete answer says happened. `fail` only when it definitely did
 * not: a 412, a 404 on delete, a 400, or a connection refused before anything was sent. Any other
 * status (503 no leader, 500, a gateway's 502/504) and any lost connection or timeout: unknown.
 */
export function mutationOutcome(kind: 'write' | 'cas' | 'create' | 'delete', answer: Answer): Outcome {
  if (answer.status === null) return answer.errorCode === 'ECONNREFUSED' ? 'fail' : 'info';
  if (answer.status >= 200 && answer.status < 300) return 'ok';
  if (answer.status === 412 || answer.status === 400) return 'fail';
  if (answer.status === 404 && kind === 'delete') return 'fail';
  return 'info';
}

/** A read: ok with the content (200) or absent (404); anything else has no effect (fail/info). */
export function readOutcome(answer: Answer): Outcome {
  if (answer.status === 200 || answer.status === 404) return 'ok';
  return answer.status === null && answer.errorCode !== 'ECONNREFUSED' ? 'info' : 'fail';
}
