// File requests go from Node's request to the forwarders without Hono: reads (GET, HEAD of
// /files/…) and small writes (PUT, POST, DELETE of /files/<name> with a body of known length
// within what is read whole anyway). Hono's web Request, context, middleware chain and Response
// cost the gateway about as much CPU per small request as the proxying itself (measured at
// concurrency 64: 1.5 → 1.0 ms of gateway CPU a 4 KiB write). The answer is the one the Hono path
// gives, header for header: the same name check, Idempotency-Key, consistency, retries, error
// bodies and metrics. Everything else (other routes, big or chunked bodies, --auth required,
// targets in absolute form) goes the Hono way.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import { targetPath } from '../../shared/names.ts';
import { GatewayError, retryAfterSeconds } from './errors.ts';
import { incomingRequestHeaders } from './headers.ts';
import { HeldBody } from './held-body.ts';
import { answerStraight, answeringNodeOf } from './proxy-response.ts';
import { checkRawFileName, routeLabel } from './request-name.ts';
import { readSmallRequestBody } from './small-request-body.ts';
import { readConsistency, readForwarder } from './read-proxy.ts';
import { readsFirst, withIdempotencyKey, writeForwarder } from './write-proxy.ts';
import type { ProxyDeps } from './write-proxy.ts';

const writeMethods = new Set(['PUT', 'POST', 'DELETE']);
const readMethods = new Set(['GET', 'HEAD']);

/** Gives a Node request listener that takes the file requests it can serve (true) and leaves the rest (false). */
export function fastPath(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { config, metrics } = deps;
  const forward = writeForwarder(deps);
  const forwardRead = readForwarder(deps);
  if (config.auth === 'required') return () => false;

  async function serveRead(req: IncomingMessage, res: ServerResponse, method: Dispatcher.HttpMethod, target: string): Promise<void> {
    const started = performance.now();
    const headers = incomingRequestHeaders(req);
    const queryAt = target.indexOf('?');
    const consistency = readConsistency(queryAt === -1 ? null : new URLSearchParams(target.slice(queryAt + 1)), headers);
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort(new Error('the client went away'));
    });
    let status: number;
    let node = 'gateway';
    try {
      const response = await forwardRead({ method, target, headers, consistency, clientSignal: clientGone.signal });
      node = answeringNodeOf(response);
      status = response.statusCode;
      await answerStraight(res, response, method, { 'x-dfs-gateway': config.id });
    } catch (err) {
      status = err instanceof GatewayError ? err.status : 500;
      if (!(err instanceof GatewayError)) console.error(`gateway: ${method} ${targetPath(target)}:`, err);
      answerError(res, status, err instanceof GatewayError ? err.code : 'internal', (err as Error).message, {});
    }
    metrics.recordAnswer(routeLabel(targetPath(target)), method, status, node, (performance.now() - started) / 1000);
  }

  async function serve(req: IncomingMessage, res: ServerResponse, method: Dispatcher.HttpMethod, target: string, length: number): Promise<void> {
    const started = performance.now();
    const headers = incomingRequestHeaders(req);
    const idempotencyKey = withIdempotencyKey(headers);
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort(new Error('the client went away'));
    });
    let status: number;
    let node = 'gateway';
    try {
      checkRawFileName(targetPath(target));
      let held: HeldBody | null = null;
      if (length > 0) {
        try {
          held = HeldBody.ofBytes(await readSmallRequestBody(req));
        } catch (err) {
          throw new GatewayError(400, 'incomplete_body', (err as Error).message);
        }
      }
      const response = await forward({ method, target, headers, body: held, readFirst: true, clientSignal: clientGone.signal });
      node = answeringNodeOf(response);
      status = response.statusCode;
      await answerStraight(res, response, method, { 'x-dfs-gateway': config.id, 'idempotency-key': idempotencyKey });
    } catch (err) {
      status = err instanceof GatewayError ? err.status : 500;
      if (!(err instanceof GatewayError)) console.error(`gateway: ${method} ${targetPath(target)}:`, err);
      answerError(res, status, err instanceof GatewayError ? err.code : 'internal', (err as Error).message, { 'idempotency-key': idempotencyKey });
    }
    metrics.recordAnswer(routeLabel(targetPath(target)), method, status, node, (performance.now() - started) / 1000);
  }

  /** The gateway's own error, as errors.ts gives it on the Hono path. */
  function answerError(res: ServerResponse, status: number, code: string, message: string, extraHeaders: Record<string, string>): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(JSON.stringify({ error: { code, message } }));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(body.length),
      ...extraHeaders,
      'x-dfs-gateway': config.id,
    };
    if (status === 503) headers['retry-after'] = String(retryAfterSeconds);
    res.writeHead(status, headers);
    res.end(body);
  }

  return function takeFileRequest(req, res) {
    const method = req.method;
    const target = req.url;
    if (method === undefined || target === undefined || !target.startsWith('/files/')) return false;
    if (readMethods.has(method)) {
      void serveRead(req, res, method as Dispatcher.HttpMethod, target);
      return true;
    }
    if (!writeMethods.has(method)) return false;
    if (req.headers['transfer-encoding'] !== undefined) return false;
    const lengthHeader = req.headers['content-length'];
    const length = lengthHeader === undefined ? 0 : Number(lengthHeader);
    if (!Number.isSafeInteger(length) || length < 0 || !readsFirst(config, length)) return false;
    void serve(req, res, method as Dispatcher.HttpMethod, target, length);
    return true;
  };
}
