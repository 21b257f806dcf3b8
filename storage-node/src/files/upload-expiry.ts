// The leader aborts multipart uploads that have been in progress longer than --multipart-expiry-ms
// (S3's lifecycle rule AbortIncompleteMultipartUpload, always on): one expireUploads entry at a
// time, so their parts' chunks become garbage. Followers do nothing; the entry decides alike
// everywhere which uploads go (those created before the time it names).
import { stopOnAssertion } from '../../../shared/assert.ts';
import { isLeader } from '../node/node-context.ts';
import type { NodeContext } from '../node/node-context.ts';
import { PeriodicTask } from '../node/periodic-task.ts';
import { uploadsExpiredPerEntryMax } from '../metadata/upload-commands.ts';
import type { MultipartService } from './multipart-service.ts';

/** How long an upload may stay in progress by default: a day. */
export const multipartExpiryMsDefault = 24 * 3_600_000;
/** The leader looks for expired uploads this often at most (a quarter of the expiry when shorter). */
export const uploadExpiryCheckMsMax = 60_000;
/** ... and at least this often. */
export const uploadExpiryCheckMsMin = 50;
/** expireUploads entries one run proposes at most, one after the other (each drops up to uploadsExpiredPerEntryMax). */
export const expiryEntriesPerRunMax = 20;

export function startUploadExpiry(ctx: NodeContext, uploads: MultipartService): { stop(): Promise<void> } {
  const expiryMs = ctx.config.multipartExpiryMs;
  const intervalMs = Math.min(uploadExpiryCheckMsMax, Math.max(uploadExpiryCheckMsMin, Math.floor(expiryMs / 4)));
  const task = new PeriodicTask(
    intervalMs,
    async () => {
      let aborted = 0;
      for (let entries = 0; entries < expiryEntriesPerRunMax && isLeader(ctx); entries++) {
        const expired = await uploads.expire(expiryMs);
        aborted += expired.length;
        if (expired.length < uploadsExpiredPerEntryMax) break;
      }
      if (aborted > 0) console.log(`node ${ctx.config.id}: aborted ${aborted} multipart upload(s) older than ${expiryMs} ms`);
    },
    (err) => {
      stopOnAssertion(err, 'multipart upload expiry');
      // Leadership lost mid-proposal and the like: the next leader's run tries again.
      console.warn(`node ${ctx.config.id}: multipart upload expiry failed: ${(err as Error).message}`);
    },
  );
  task.start();
  return { stop: () => task.stop() };
}
