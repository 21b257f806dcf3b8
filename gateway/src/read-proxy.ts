// Reads (GET, HEAD) go to a healthy replica, least outstanding requests first; one that fails
// (unreachable, timeout, 503) is left for another, and when every healthy replica has failed the
// read waits for the view to change and goes round again, until the failover timeout.
// `X-Consistency` (or ?consistency=) passes through, linearizable by default; `leader` reads go
// to the leader. The node that answered says so in `X-DFS-Node`. Names are checked by the node
// (a read has no body to spare, and `GET /files/` is the listing there).
import type { Context } from 'hono';
import type { Dispatcher } from 'undici';
import { GatewayError } from './errors.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { isRefusal, passOn, refusalText } from './proxy-response.ts';
import { rawTarget } from './request-name.ts';
import { describeUpstreamError } from './upstream.ts';
import type { ProxyDeps } from './write-proxy.ts';

/** Pause between rounds once every healthy replica has failed this read. */
const roundPauseMs = 50;

/** One read as the forwarder sends it, whichever way it came in (Hono, or fast-path.ts). */
export interface ForwardedRead {
  readonly method: Dispatcher.HttpMethod;
  /** Path and query exactly as the client sent them. */
  readonly target: string;
  /** What goes to the node; X-Consistency set (readConsistency). */
  readonly headers: Record<string, string>;
  /** Lower-case: linearizable, local, leader, … (the node judges any other). */
  readonly consistency: string;
  /** Aborts when the client goes away. */
  readonly clientSignal: AbortSignal;
}

/**
 * The read's consistency, from ?consistency= or X-Consistency; when neither is given, the node
 * is told `linearizable` (the default) in the header.
 */
export function readConsistency(query: URLSearchParams | null, headers: Record<string, string>): string {
  const fromQuery = query?.get('consistency') ?? null;
  if (fromQuery === null && headers['x-consistency'] === undefined) headers['x-consistency'] = 'linearizable';
  return (fromQuery ?? headers['x-consistency'] ?? 'linearizable').toLowerCase();
}

/**
 * Sends a read to a replica until one answers it (anything but a refusal), within the failover
 * timeout; the answer's body is left to the caller. Throws a GatewayError when it cannot.
 */
export function readForwarder(deps: ProxyDeps): (read: ForwardedRead) => Promise<Dispatcher.ResponseData> {
  const { config, view, upstreams, metrics } = deps;

  return async function forward(read: ForwardedRead): Promise<Dispatcher.ResponseData> {
    const { method, target: rawPathAndQuery, headers, consistency, clientSignal } = read;
    const deadlineMs = performance.now() + config.failoverTimeoutMs;
    const tried = new Set<string>();
    let lastProblem = 'no healthy node';
    let lastReason: 'unreachable' | 'refused' | null = null;
    for (;;) {
      if (clientSignal.aborted) throw new GatewayError(400, 'client_gone', 'the client went away');
      const leader = view.leader();
      const target = consistency === 'leader' ? (leader !== null && !tried.has(leader.url) ? leader : null) : view.pickReplica(tried);
      if (target === null) {
        if (performance.now() >= deadlineMs) throw new GatewayError(503, 'no_replica', `no node could serve the read within ${config.failoverTimeoutMs} ms (last: ${lastProblem})`);
        await view.changed(Math.min(deadlineMs, performance.now() + roundPauseMs), clientSignal);
        tried.clear();
        continue;
      }
      if (lastReason !== null) metrics.retries.inc({ kind: 'read', reason: lastReason });
      tried.add(target.url);
      let response: Dispatcher.ResponseData;
      try {
        response = await upstreams.request(target.url, {
          method,
          path: rawPathAndQuery,
          headers,
          body: null,
          headersTimeoutMs: config.readTimeoutMs,
          bodyTimeoutMs: config.bodyTimeoutMs,
          signal: clientSignal,
        });
      } catch (err) {
        if (clientSignal.aborted) throw new GatewayError(400, 'client_gone', 'the client went away');
        lastProblem = `${target.id}: ${describeUpstreamError(err)}`;
        view.reportFailure(target.url, describeUpstreamError(err));
        lastReason = 'unreachable';
        continue;
      }
      if (!isRefusal(response.statusCode)) return response;
      lastProblem = `${target.id}: ${await refusalText(response)}`;
      view.reportRefusal(target.url);
      lastReason = 'refused';
    }
  };
}

export function readProxy(deps: ProxyDeps) {
  const forward = readForwarder(deps);

  return async function proxyRead(c: Context): Promise<Response> {
    const method = c.req.method as Dispatcher.HttpMethod;
    const headers = upstreamRequestHeaders(c);
    const consistency = readConsistency(new URL(c.req.url).searchParams, headers);
    // The node gets the target as sent: it judges the name in it (a read has no body to spare).
    const response = await forward({ method, target: rawTarget(c), headers, consistency, clientSignal: c.req.raw.signal });
    return passOn(c, deps.config.id, response, method);
  };
}
