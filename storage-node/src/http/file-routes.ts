// `/files/<name>` and the original `/upload/<name>`: store, read, delete one file. Each handler
// parses the request, asks the file service, and shapes the answer.
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { FileService } from '../files/file-service.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { serveContent } from './download.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { copySource } from './copy-source.ts';
import { contentBody, contentLength, contentType, fileName, metadataDirective, readConsistency, readConsistently, requestId, requiredBucket, storedHeaders, wantsS3Etag, writePrecondition } from './request-parts.ts';
import type { FileJson } from '../metadata/commands.ts';
import type { DeleteMarkerState } from '../metadata/metadata-state-machine.ts';
import { withoutS3Etag } from '../metadata/file-record.ts';
import { isPartNumber, partNumberMax } from '../metadata/multipart-rules.ts';


function versionParam(c: Context): number | undefined {
  const text = c.req.query('version');
  if (text === undefined) return undefined;
  const version = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(version) || version < 1) throw new HttpError(400, 'bad_request', '?version must be a positive integer');
  return version;
}

/** `?part=N`: part N of a multipart version (the S3 gateway's GetObject with partNumber). */
function partParam(c: Context): number | undefined {
  const text = c.req.query('part');
  if (text === undefined) return undefined;
  const part = Number(text);
  if (!/^\d+$/.test(text) || !isPartNumber(part)) throw new HttpError(400, 'bad_request', `?part must be an integer from 1 to ${partNumberMax}`);
  if (c.req.header('range') !== undefined) throw new HttpError(400, 'bad_request', '?part and Range cannot go together');
  return part;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** A written version's answer: ETag, the S3 ETag when it has one, Location, and its JSON. */
function written(c: Context, name: string, file: FileJson): Response {
  c.header('ETag', `"${file.etag}"`);
  if (file.s3Etag !== undefined) c.header('X-DFS-S3-ETag', `"${file.s3Etag}"`);
  c.header('Location', `/files/${name.split('/').map(encodeURIComponent).join('/')}`);
  return c.json(wantsS3Etag(c) ? file : withoutS3Etag(file), 201);
}

/**
 * A read that meets a delete marker: `404` as for a name that is not there, saying which marker
 * (`X-DFS-Delete-Marker: true`, `X-DFS-Version`, `Last-Modified`: when the name was deleted).
 */
function deleteMarkerAnswer(c: Context, name: string, marker: DeleteMarkerState, named: boolean): Response {
  const headers = { 'X-DFS-Delete-Marker': 'true', 'X-DFS-Version': String(marker.version), 'Last-Modified': new Date(marker.modifiedMs).toUTCString() };
  const message = named ? `version ${marker.version} of "${name}" is a delete marker` : `"${name}" was deleted (delete marker ${marker.version}); its older versions are kept`;
  if (c.req.method === 'HEAD') return c.body(null, 404, headers);
  return c.json({ error: { code: 'not_found', message } }, 404, headers);
}

export function fileRoutes(ctx: NodeContext, files: FileService): Hono {
  const app = new Hono();
  const write = (handler: (c: Context) => Promise<Response>) => async (c: Context) => {
    if (!isLeader(ctx)) {
      fileName(c); // a bad name is a 400 here, without a trip to the leader
      return forwardToLeader(ctx, c);
    }
    return handler(c);
  };
  /** `PUT /files/<name>` with `X-DFS-Copy-Source`: a new version with the source version's chunks. */
  const copy = async (c: Context) => {
    const name = fileName(c);
    const source = copySource(c);
    // Without a Content-Type the copy keeps the source's.
    const typeSent = (c.req.header('content-type')?.trim() ?? '') !== '';
    const headers = storedHeaders(c);
    const replace = metadataDirective(c) === 'replace';
    if (!replace && Object.keys(headers).length > 0) {
      throw new HttpError(400, 'bad_request', 'a copy keeps the source\'s stored headers: send X-DFS-Metadata-Directive: replace to set them');
    }
    const { file, sourceVersion } = await files.copy({
      name,
      source: source.name,
      ...optional('sourceVersion', source.version),
      ...optional('contentType', typeSent ? contentType(c) : undefined),
      ...optional('headers', replace ? headers : undefined),
      ...optional('precondition', writePrecondition(c)),
      ...optional('requestId', requestId(c)),
      ...optional('bucket', requiredBucket(c)),
    });
    c.header('X-DFS-Copy-Source-Version', String(sourceVersion));
    return written(c, name, file);
  };
  const upload = async (c: Context) => {
    if (c.req.header('x-dfs-copy-source') !== undefined) return copy(c);
    const name = fileName(c);
    const file = await files.write({
      name,
      contentType: contentType(c),
      headers: storedHeaders(c),
      ...contentBody(c),
      ...optional('expectedLength', contentLength(c)),
      ...optional('precondition', writePrecondition(c)),
      ...optional('requestId', requestId(c)),
      ...optional('bucket', requiredBucket(c)),
      computeMd5: wantsS3Etag(c),
    });
    return written(c, name, file);
  };
  /**
   * `DELETE /files/<name>`: ends the history; `?version=N` removes that version (or delete
   * marker); `?keep-versions` leaves a delete marker. The last two name the version removed or
   * made (`X-DFS-Version`) and say when it is a delete marker (`X-DFS-Delete-Marker: true`).
   */
  const remove = async (c: Context) => {
    const version = versionParam(c);
    const keepHistory = new URL(c.req.url).searchParams.has('keep-versions');
    if (keepHistory && version !== undefined) throw new HttpError(400, 'bad_request', '?keep-versions and ?version cannot go together');
    const removed = await files.delete({
      name: fileName(c),
      ...optional('version', version),
      ...(keepHistory ? { keepHistory } : {}),
      ...optional('precondition', writePrecondition(c)),
      ...optional('requestId', requestId(c)),
    });
    if (keepHistory || version !== undefined) {
      c.header('X-DFS-Version', String(removed.version));
      if (removed.deleteMarker === true) c.header('X-DFS-Delete-Marker', 'true');
    }
    return c.body(null, 204);
  };
  const read = async (c: Context) => {
    const name = fileName(c);
    const version = versionParam(c);
    const consistency = readConsistency(c);
    if (consistency === 'leader' && !isLeader(ctx)) return forwardToLeader(ctx, c);
    await readConsistently(ctx, c, consistency);
    if (new URL(c.req.url).searchParams.has('versions')) {
      const versions = files.versions(name);
      return c.json({ name, versions: wantsS3Etag(c) ? versions : versions.map((entry) => ('etag' in entry ? withoutS3Etag(entry) : entry)) });
    }
    const record = files.find(name, version);
    if (record === null) {
      const marker = files.deleteMarker(name, version);
      if (marker !== null) return deleteMarkerAnswer(c, name, marker, version !== undefined);
      throw new HttpError(404, 'not_found', version === undefined ? `no file "${name}"` : `no version ${version} of "${name}"`);
    }
    return serveContent(ctx, files, c, record, partParam(c));
  };
  for (const prefix of ['/files', '/upload']) {
    app.put(`${prefix}/*`, write(upload));
    app.post(`${prefix}/*`, write(upload));
    app.delete(`${prefix}/*`, write(remove));
    app.get(`${prefix}/*`, read);
    app.on('HEAD', `${prefix}/*`, read);
  }
  return app;
}
