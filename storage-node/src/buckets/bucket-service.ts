// S3 buckets as replicated records: create and delete become Raft entries (decided when applied,
// alike on every node: a delete is refused while a live file is under `<bucket>/`); reads come
// from the local state machine after the caller's consistency wait.
import type { BucketCommand, BucketErrorCode, BucketJson, BucketResult } from '../metadata/commands.ts';
import { encodeCommand } from '../metadata/commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { stampHlc } from '../files/propose.ts';
import type { BucketVersioning } from '../db/schema.ts';

export class BucketError extends Error {
  override readonly name = 'BucketError';
  constructor(
    readonly code: BucketErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class BucketService {
  readonly #ctx: NodeContext;

  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  find(name: string): BucketJson | null {
    return this.#ctx.metadata.getBucket(name);
  }

  list(): BucketJson[] {
    return this.#ctx.metadata.listBuckets();
  }

  create(name: string, requestId?: string): Promise<BucketJson> {
    return this.#propose({ op: 'createBucket', name, hlc: stampHlc(this.#ctx), ...(requestId !== undefined ? { requestId } : {}) });
  }

  /** Sets the bucket's versioning (S3's PutBucketVersioning); resolves with the bucket as it is then. */
  setVersioning(name: string, status: BucketVersioning, requestId?: string): Promise<BucketJson> {
    return this.#propose({ op: 'setBucketVersioning', name, status, hlc: stampHlc(this.#ctx), ...(requestId !== undefined ? { requestId } : {}) });
  }

  /**
   * Resolves with the bucket removed, and the history kept under it (old versions behind delete
   * markers) with it; BucketError bucket_not_empty while live files are under it.
   */
  delete(name: string, requestId?: string): Promise<BucketJson> {
    return this.#propose({ op: 'deleteBucket', name, hlc: stampHlc(this.#ctx), ...(requestId !== undefined ? { requestId } : {}) });
  }

  async #propose(command: BucketCommand): Promise<BucketJson> {
    const { metrics, raft } = this.#ctx;
    metrics.proposals.inc({ op: command.op });
    const result = (await raft.propose(encodeCommand(command))) as BucketResult | undefined;
    if (result === undefined) throw new Error('the state machine gave no result for a bucket command');
    if (!result.ok) throw new BucketError(result.code, result.message);
    return result.bucket;
  }
}
