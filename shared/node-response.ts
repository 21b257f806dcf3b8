// The Node response behind a Hono request: @hono/node-server passes it as `c.env.outgoing`
// (its HttpBindings). Absent when the app is called in process (app.request, the S3 layer's
// internal requests), so callers that write to the socket themselves check for it.
import type { ServerResponse } from 'node:http';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';

export function nodeResponseOf(c: Context): ServerResponse | undefined {
  return (c.env as Partial<HttpBindings> | undefined)?.outgoing;
}
