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
import { isRefusal, passOn, proxiedAnswer, refusalText } from './proxy-response.ts';
import { rawTarget } from './request-name.ts';
import { describeUpstreamError } from './upstream.ts';
import type { ProxyDeps } from './write-proxy.ts';

/** Pause between rounds once every healthy replica has failed this read. */
const roundPauseMs = 50;

export function readProxy(deps: ProxyDeps) {
  const { config, view, upstreams, metrics } = deps;

  return async function proxyRead(c: Context): Promise<Response> {
    const url = new URL(c.req.url);
    // The node gets the target as sent: it judges the name in it (a read has no body to spare).
    const rawPathAndQuery = rawTarget(c);
    const method = c.req.method as Dispatcher.HttpMethod;
    const headers = upstreamRequestHeaders(c);
    const consistency = (url.searchParams.get('consistency') ?? headers['x-consistency'] ?? 'linearizable').toLowerCase();
    if (url.searchParams.get('consistency') === null && headers['x-consistency'] === undefined) headers['x-consistency'] = 'linearizable';
    const clientSignal = c.req.raw.signal;
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
      if (!isRefusal(response.statusCode)) return passOn(c, response, method, proxiedAnswer(c, config.id, response));
      lastProblem = `${target.id}: ${await refusalText(response)}`;
      view.reportRefusal(target.url);
      lastReason = 'refused';
    }
  };
}
