// Writes (PUT, POST, DELETE, and anything else that is not a read) go to the leader. When the
// leader fails before answering (connection refused or reset, timeout, 503, "no leader") the write
// waits for the next leader and is sent again with the same Idempotency-Key, which the nodes'
// state machine de-duplicates: applied once. A body within the retry buffer is held for this; a
// larger one is streamed through and, if its leader fails, the client gets 503 with Retry-After.
import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import type { Context } from 'hono';
import type { Dispatcher } from 'undici';
import type { ClusterView, LeaderInfo } from './cluster-view.ts';
import type { GatewayConfig } from './config.ts';
import { GatewayError } from './errors.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { HeldBody } from './held-body.ts';
import { isRefusal, passOn, refusalText } from './proxy-response.ts';
import { checkFileName, rawTarget } from './request-name.ts';
import { readSmallRequestBody } from './small-request-body.ts';
import type { InProcessEnv } from './s3/native-client.ts';
import { describeUpstreamError } from './upstream.ts';
import type { UpstreamRequest, Upstreams } from './upstream.ts';

export interface ProxyDeps {
  readonly config: GatewayConfig;
  readonly view: ClusterView;
  readonly upstreams: Upstreams;
  readonly metrics: GatewayMetrics;
}

/** Bodies up to this size (by Content-Length) are read whole before the first attempt: one write. */
const eagerBodyBytesMax = 256 * 1024;
/** The pause before asking the same leader again after it refused, doubling up to the max. */
const refusalBackoffMsMin = 10;
const refusalBackoffMsMax = 500;

/**
 * The client's body as a stream: the raw Node request under @hono/node-server, the S3 layer's
 * checked body for its in-process requests (s3/native-client.ts), else the web body.
 */
function bodySource(c: Context): AsyncIterable<Uint8Array> | null {
  const inProcess = (c.env as Partial<InProcessEnv> | undefined)?.inProcessBody;
  if (inProcess !== undefined) return inProcess;
  const te = c.req.header('transfer-encoding');
  const length = c.req.header('content-length');
  if (te === undefined && (length === undefined || length.trim() === '0')) return null;
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  if (incoming !== undefined) return incoming;
  return (c.req.raw.body as AsyncIterable<Uint8Array> | null) ?? null;
}

/** One write as the forwarder sends it, whichever way it came in (Hono, or fast-path.ts). */
export interface ForwardedWrite {
  readonly method: Dispatcher.HttpMethod;
  /** Path and query exactly as the client sent them. */
  readonly target: string;
  /** What goes to the node, Idempotency-Key included (withIdempotencyKey). */
  readonly headers: Record<string, string>;
  readonly body: HeldBody | null;
  /** The body was read whole before the first attempt (one write to the node). */
  readonly readFirst: boolean;
  /** Aborts when the client goes away. */
  readonly clientSignal: AbortSignal;
}

/** Sets the client's Idempotency-Key on the headers going to the node, or a new one; gives it. */
export function withIdempotencyKey(headers: Record<string, string>): string {
  const key = headers['idempotency-key'] ?? `gw-${randomUUID()}`;
  headers['idempotency-key'] = key;
  return key;
}

/**
 * A write's body as the forwarder holds it for retries: read whole first when `readFirst` (one
 * write to the node), else streamed with a replay buffer of `retryBufferBytes`. A body that fails
 * while it is read is the client's fault: 400 incomplete_body.
 */
export async function holdBody(source: AsyncIterable<Uint8Array>, readFirst: boolean, retryBufferBytes: number): Promise<HeldBody> {
  try {
    if (readFirst && source instanceof IncomingMessage) return HeldBody.ofBytes(await readSmallRequestBody(source));
    const held = new HeldBody(source, retryBufferBytes);
    if (readFirst) await held.readAll();
    return held;
  } catch (err) {
    throw new GatewayError(400, 'incomplete_body', (err as Error).message);
  }
}

/** Whether a body of this Content-Length is read whole before the first attempt. */
export function readsFirst(config: GatewayConfig, contentLength: number): boolean {
  return contentLength <= Math.min(eagerBodyBytesMax, config.retryBufferBytes);
}

/**
 * Sends a write to the leader until one answers it (anything but a refusal), through leader
 * changes, within the failover timeout; the answer's body is left to the caller. Throws a
 * GatewayError when it cannot.
 */
export function writeForwarder(deps: ProxyDeps): (write: ForwardedWrite) => Promise<Dispatcher.ResponseData> {
  const { config, view, upstreams, metrics } = deps;

  /** Sends one attempt; while it waits for the answer, a leader that vanished from the view aborts it. */
  async function attempt(leader: LeaderInfo, request: Omit<UpstreamRequest, 'signal'>, clientSignal: AbortSignal): Promise<Dispatcher.ResponseData> {
    // One controller for both reasons (AbortSignal.any costs more than the proxying of a small
    // write: a new signal with weak references to its sources on every request).
    const abort = new AbortController();
    const clientGone = () => abort.abort(clientSignal.reason);
    if (clientSignal.aborted) clientGone();
    else clientSignal.addEventListener('abort', clientGone, { once: true });
    const unsubscribe = view.subscribe(() => {
      const now = view.leader();
      if (now !== null && now.url !== leader.url && !view.isReachable(leader.url)) abort.abort(new Error(`leader ${leader.id} unreachable, ${now.id} leads now`));
    });
    try {
      return await upstreams.request(leader.url, { ...request, signal: abort.signal });
    } finally {
      unsubscribe();
      clientSignal.removeEventListener('abort', clientGone);
    }
  }

  return async function forward(write: ForwardedWrite): Promise<Dispatcher.ResponseData> {
    const { method, target, headers, body: held, readFirst, clientSignal } = write;
    const deadlineMs = performance.now() + config.failoverTimeoutMs;
    let backoffMs = refusalBackoffMsMin;
    let lastProblem = 'no leader known';
    for (;;) {
      const leader = await view.waitForLeader(deadlineMs, clientSignal);
      if (clientSignal.aborted) throw new GatewayError(400, 'client_gone', 'the client went away');
      if (leader === null) throw new GatewayError(503, 'no_leader', `no leader took the write within ${config.failoverTimeoutMs} ms (last: ${lastProblem})`);
      let response: Dispatcher.ResponseData;
      try {
        response = await attempt(leader, {
          method,
          path: target,
          headers,
          body: held === null ? null : readFirst ? held.whole() : held.stream(),
          headersTimeoutMs: config.writeTimeoutMs,
          bodyTimeoutMs: config.bodyTimeoutMs,
        }, clientSignal);
      } catch (err) {
        if (held?.clientFailed || clientSignal.aborted) throw new GatewayError(400, 'incomplete_body', 'the client went away before its body ended');
        lastProblem = `${leader.id}: ${describeUpstreamError(err)}`;
        view.reportFailure(leader.url, describeUpstreamError(err));
        if (held !== null && !held.replayable) return unreplayable(leader, lastProblem);
        metrics.retries.inc({ kind: 'write', reason: 'unreachable' });
        continue;
      }
      if (!isRefusal(response.statusCode)) return response;
      lastProblem = `${leader.id}: ${await refusalText(response)}`;
      view.reportRefusal(leader.url);
      if (held !== null && !held.replayable) return unreplayable(leader, lastProblem);
      metrics.retries.inc({ kind: 'write', reason: 'refused' });
      // The same leader is asked again only after the view changed or a growing pause.
      await view.changed(Math.min(deadlineMs, performance.now() + backoffMs), clientSignal);
      backoffMs = Math.min(refusalBackoffMsMax, backoffMs * 2);
    }
  };

  function unreplayable(leader: LeaderInfo, problem: string): never {
    metrics.unreplayableWrites.inc();
    throw new GatewayError(
      503,
      'leader_failed',
      `the leader ${leader.id} failed after more of the body was sent than the gateway holds for a retry ` +
        `(${config.retryBufferBytes} bytes); send the write again with the same Idempotency-Key to have it applied once (${problem})`,
    );
  }
}

export function writeProxy(deps: ProxyDeps) {
  const { config } = deps;
  const forward = writeForwarder(deps);

  return async function proxyWrite(c: Context): Promise<Response> {
    const method = c.req.method as Dispatcher.HttpMethod;
    const headers = upstreamRequestHeaders(c);
    const idempotencyKey = withIdempotencyKey(headers);
    // On every answer, the gateway's own errors too: the client can retry with it, applied once.
    c.header('Idempotency-Key', idempotencyKey);
    checkFileName(c);
    const source = bodySource(c);
    const readFirst = source !== null && readsFirst(config, Number(c.req.header('content-length') ?? NaN));
    const held = source === null ? null : await holdBody(source, readFirst, config.retryBufferBytes);
    const response = await forward({ method, target: rawTarget(c), headers, body: held, readFirst, clientSignal: c.req.raw.signal });
    return passOn(c, config.id, response, method, { 'idempotency-key': idempotencyKey });
  };
}
