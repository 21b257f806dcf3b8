// `/files/<name>` and the original `/upload/<name>`: store, read, delete one file.
import { Hono } from 'hono';
import type { Context } from 'hono';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { serveContent } from './download.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { fileName, readConsistency, readConsistently } from './request-parts.ts';
import { handleDelete, handleUpload } from './upload.ts';

function versionParam(c: Context): number | undefined {
  const text = c.req.query('version');
  if (text === undefined) return undefined;
  const version = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(version) || version < 1) throw new HttpError(400, 'bad_request', '?version must be a positive integer');
  return version;
}

export function fileRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  const write = (handler: (ctx: NodeContext, c: Context) => Promise<Response>) => async (c: Context) => {
    if (!isLeader(ctx)) {
      fileName(c); // a bad name is a 400 here, without a trip to the leader
      return forwardToLeader(ctx, c);
    }
    return handler(ctx, c);
  };
  const read = async (c: Context) => {
    const name = fileName(c);
    const version = versionParam(c);
    const consistency = readConsistency(c);
    if (consistency === 'leader' && !isLeader(ctx)) return forwardToLeader(ctx, c);
    await readConsistently(ctx, c, consistency);
    if (new URL(c.req.url).searchParams.has('versions')) {
      return c.json({ name, versions: ctx.metadata.listVersions(name) });
    }
    const record = ctx.metadata.getFile(name, version);
    if (record === null) {
      throw new HttpError(404, 'not_found', version === undefined ? `no file "${name}"` : `no version ${version} of "${name}"`);
    }
    return serveContent(ctx, c, record);
  };
  for (const prefix of ['/files', '/upload']) {
    app.put(`${prefix}/*`, write(handleUpload));
    app.post(`${prefix}/*`, write(handleUpload));
    app.delete(`${prefix}/*`, write(handleDelete));
    app.get(`${prefix}/*`, read);
    app.on('HEAD', `${prefix}/*`, read);
  }
  return app;
}
