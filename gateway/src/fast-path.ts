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
import { asGatewayError, errorBody, errorHeaders } from './errors.ts';
import type { GatewayError } from './errors.ts';
import { incomingRequestHeaders } from './headers.ts';
import { answerStraight, answeringNodeOf } from './proxy-response.ts';
import { checkRawFileName, routeLabel } from './request-name.ts';
import { readConsistency, readForwarder } from './read-proxy.ts';
import { holdBody, readsFirst, withIdempotencyKey, writeForwarder } from './write-proxy.ts';
import type { ProxyDeps } from './write-proxy.ts';

const writeMethods = new Set(['PUT', 'POST', 'DELETE']);
const readMethods = new Set(['GET', 'HEAD']);

/** Gives a Node request listener that takes the file requests it can serve (true) and leaves the rest (false). */
export function fastPath(deps: ProxyDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { config, metrics } = deps;
  const forwardWrite = writeForwarder(deps);
  const forwardRead = readForwarder(deps);
  if (config.auth === 'required') return () => false;

  /**
   * Serves one file request: `send` forwards it (aborted when the client goes away) and the
   * node's answer is passed on, or the gateway's own error is; either way with `extraHeaders`
   * and X-DFS-Gateway, and counted in the request metrics.
   */
  async function serve(res: ServerResponse, method: Dispatcher.HttpMethod, path: string, extraHeaders: Record<string, string>, send: (clientSignal: AbortSignal) => Promise<Dispatcher.ResponseData>): Promise<void> {
    const started = performance.now();
    const clientGone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) clientGone.abort(new Error('the client went away'));
    });
    const withGateway = { ...extraHeaders, 'x-dfs-gateway': config.id };
    let status: number;
    let node = 'gateway';
    try {
      const response = await send(clientGone.signal);
      node = answeringNodeOf(response);
      status = response.statusCode;
      await answerStraight(res, response, method, withGateway);
    } catch (err) {
      const error = asGatewayError(err, `${method} ${path}`);
      status = error.status;
      answerError(res, error, withGateway);
    }
    metrics.recordAnswer(routeLabel(path), method, status, node, (performance.now() - started) / 1000);
  }

  function serveRead(req: IncomingMessage, res: ServerResponse, method: Dispatcher.HttpMethod, target: string): Promise<void> {
    const headers = incomingRequestHeaders(req);
    const queryAt = target.indexOf('?');
    const consistency = readConsistency(queryAt === -1 ? null : new URLSearchParams(target.slice(queryAt + 1)), headers);
    return serve(res, method, targetPath(target), {}, (clientSignal) => forwardRead({ method, target, headers, consistency, clientSignal }));
  }

  function serveWrite(req: IncomingMessage, res: ServerResponse, method: Dispatcher.HttpMethod, target: string, length: number): Promise<void> {
    const headers = incomingRequestHeaders(req);
    const idempotencyKey = withIdempotencyKey(headers);
    const path = targetPath(target);
    return serve(res, method, path, { 'idempotency-key': idempotencyKey }, async (clientSignal) => {
      checkRawFileName(path);
      const held = length > 0 ? await holdBody(req, true, config.retryBufferBytes) : null;
      return forwardWrite({ method, target, headers, body: held, readFirst: true, clientSignal });
    });
  }

  /** The gateway's own error, as errors.ts gives it on the Hono path; a cut-off answer once its head is out. */
  function answerError(res: ServerResponse, error: GatewayError, extraHeaders: Record<string, string>): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(JSON.stringify(errorBody(error.code, error.message)));
    res.writeHead(error.status, { 'content-type': 'application/json', 'content-length': String(body.length), ...extraHeaders, ...errorHeaders(error.status) });
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
    void serveWrite(req, res, method as Dispatcher.HttpMethod, target, length);
    return true;
  };
}
