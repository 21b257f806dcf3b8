// `/admin/keys`: access keys created and revoked at runtime (admin token or cluster secret).
//   POST   /admin/keys             -> 201 {accessKeyId, secretAccessKey, created}: the secret, once
//   GET    /admin/keys             -> {keys:[{accessKeyId, created}]}: never a secret
//   GET    /admin/keys?secrets=1   -> the same with each secretAccessKey, for the gateways' SigV4 checks
//   DELETE /admin/keys/<id>        -> 204; 404 no_such_key
// Creating and revoking are Raft entries (metadata/key-commands.ts), so every node and gateway
// sees the same keys. Secrets never go to a log, an error message or /status.
import { randomBytes, randomInt } from 'node:crypto';
import { Hono } from 'hono';
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { encodeCommand } from '../metadata/commands.ts';
import { accessKeyIdPattern } from '../metadata/key-commands.ts';
import type { KeyCommand, KeyErrorCode, KeyJson, KeyResult } from '../metadata/key-commands.ts';
import { toKeyJson } from '../metadata/metadata-state-machine.ts';
import { stampHlc } from '../files/propose.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { adminAuth } from '../transport/cluster-auth.ts';
import { HttpError } from './errors.ts';
import { forwardToLeader } from './forward.ts';
import { readConsistency, readConsistently, requestId } from './request-parts.ts';

const keyErrorStatus: Record<KeyErrorCode, ContentfulStatusCode> = {
  key_exists: 409,
  no_such_key: 404,
  idempotency_key_mismatch: 422,
};

const accessKeyAlphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** AWS-shaped, as the launcher's root key: a 20-character id starting DFS, a 40-character secret. */
const accessKeyIdLength = 20;
const secretBytes = 30;

function newAccessKeyId(): string {
  let id = 'DFS';
  while (id.length < accessKeyIdLength) id += accessKeyAlphabet[randomInt(accessKeyAlphabet.length)];
  return id;
}

async function propose(ctx: NodeContext, command: KeyCommand): Promise<KeyJson> {
  ctx.metrics.proposals.inc({ op: command.op });
  const result = (await ctx.raft.propose(encodeCommand(command))) as KeyResult | undefined;
  if (result === undefined) throw new Error('the state machine gave no result for a key command');
  if (!result.ok) throw new HttpError(keyErrorStatus[result.code], result.code, result.message);
  return result.key;
}

export function keyRoutes(ctx: NodeContext): Hono {
  const app = new Hono();
  app.use('/admin/*', adminAuth({ clusterSecret: ctx.config.clusterSecret, adminToken: ctx.config.adminToken }));
  const optional = (c: Context) => {
    const id = requestId(c);
    return id === undefined ? {} : { requestId: id };
  };
  app.post('/admin/keys', async (c) => {
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    const command: KeyCommand = { op: 'createKey', accessKeyId: newAccessKeyId(), secretAccessKey: randomBytes(secretBytes).toString('base64url'), hlc: stampHlc(ctx), ...optional(c) };
    const key = await propose(ctx, command);
    // A replayed request (same Idempotency-Key) is answered with the key its first entry made:
    // its secret is the one this node applied, not the one drawn for the replay.
    const secretAccessKey = key.accessKeyId === command.accessKeyId ? command.secretAccessKey : ctx.metadata.accessKeySecret(key.accessKeyId);
    if (secretAccessKey === null) throw new HttpError(409, 'key_revoked', `the access key ${key.accessKeyId} this request made was revoked since`);
    c.header('Cache-Control', 'no-store');
    return c.json({ accessKeyId: key.accessKeyId, secretAccessKey, created: key.created }, 201);
  });
  app.get('/admin/keys', async (c) => {
    const secrets = c.req.query('secrets');
    if (secrets !== undefined && secrets !== '1') throw new HttpError(400, 'bad_request', 'secrets must be 1 when given');
    await readConsistently(ctx, c, readConsistency(c) === 'local' ? 'local' : 'linearizable');
    const keys = ctx.metadata.accessKeys();
    c.header('Cache-Control', 'no-store');
    if (secrets === '1') return c.json({ keys: keys.map((k) => ({ ...toKeyJson(k), secretAccessKey: k.secretAccessKey })) });
    return c.json({ keys: keys.map(toKeyJson) });
  });
  app.delete('/admin/keys/:id', async (c) => {
    const accessKeyId = c.req.param('id');
    if (!accessKeyIdPattern.test(accessKeyId)) throw new HttpError(404, 'no_such_key', `no access key ${accessKeyId.slice(0, 128)}`);
    if (!isLeader(ctx)) return forwardToLeader(ctx, c);
    await propose(ctx, { op: 'revokeKey', accessKeyId, hlc: stampHlc(ctx), ...optional(c) });
    return c.body(null, 204);
  });
  return app;
}
