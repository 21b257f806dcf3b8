// The gateway's own errors, in the nodes' format: `{"error":{"code","message"}}` with the right
// status, and `Retry-After` on every 503.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Seconds a client is told to wait after a 503 of the gateway. */
export const retryAfterSeconds = 1;

/** The headers every error answer of the gateway carries for its status (Retry-After on a 503). */
export function errorHeaders(status: number): Record<string, string> {
  return status === 503 ? { 'retry-after': String(retryAfterSeconds) } : {};
}

/** The JSON body of an error answer. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string): Response {
  const headers = errorHeaders(status);
  for (const name in headers) c.header(name, headers[name]);
  return c.json(errorBody(code, message), status);
}

/** What the gateway answers for an error: a GatewayError as it is, anything else a 500, logged with `what`. */
export function asGatewayError(err: unknown, what: string): GatewayError {
  if (err instanceof GatewayError) return err;
  console.error(`gateway: ${what}:`, err);
  return new GatewayError(500, 'internal', (err as Error).message);
}

export function onError(err: Error, c: Context): Response {
  const error = asGatewayError(err, `${c.req.method} ${c.req.path}`);
  return errorResponse(c, error.status, error.code, error.message);
}
