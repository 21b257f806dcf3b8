// S3 multipart uploads, between the protocol and the storage: an upload and each of its parts
// are replicated records. A part's bytes go down the file service's chunk path (streamed,
// replicated to a majority, never inline, so parts concatenate) and are recorded by one entry.
// The whole content's SHA-256 (its native ETag, as for any file) is worked out from the parts
// read back as they arrive (upload-digests.ts); completing finishes it and makes the version
// from the parts' chunk lists in one entry, no byte copied. Expired uploads are aborted by the
// leader (upload-expiry.ts).
import { randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { BodyTooLargeError } from '../blobs/chunker.ts';
import type { FileJson, Precondition } from '../metadata/commands.ts';
import type { FileRecord } from '../metadata/file-record.ts';
import { decodeHlc } from '../../../shared/hlc.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import { toPartJson, toUploadJson } from '../metadata/metadata-state-machine.ts';
import { completionProblem } from '../metadata/multipart-rules.ts';
import type { RequestedPart } from '../metadata/multipart-rules.ts';
import type { PartRecord, UploadRecord } from '../metadata/multipart-statements.ts';
import type { PartJson, UploadJson } from '../metadata/upload-commands.ts';
import type { NodeContext } from '../node/node-context.ts';
import { loadChunkLeased } from './chunk-source.ts';
import { FileError } from './file-errors.ts';
import type { FileService } from './file-service.ts';
import { proposeUploadCommand, stampHlc } from './propose.ts';
import { UploadDigests } from './upload-digests.ts';

export interface CreateUploadRequest {
  readonly name: string;
  readonly bucket: string;
  readonly contentType: string;
  /** The headers the completed version keeps (shared/object-headers.ts). */
  readonly headers?: ObjectHeaders;
  readonly requestId?: string;
}

/** Which upload a request is about; `name`, when given, must be the upload's (else no_such_upload). */
export interface UploadRef {
  readonly uploadId: string;
  readonly name?: string;
}

export interface PartWriteRequest extends UploadRef {
  readonly partNumber: number;
  readonly body: AsyncIterable<Uint8Array>;
  readonly expectedLength?: number;
  /** The part's declared hex SHA-256 (see WriteRequest.expectedSha256). */
  readonly expectedSha256?: string;
  readonly requestId?: string;
}

export interface CompleteRequest extends UploadRef {
  readonly parts: readonly RequestedPart[];
  readonly precondition?: Precondition;
  readonly requestId?: string;
}

export interface UploadListing {
  readonly uploads: readonly UploadJson[];
  /** More uploads follow the last one listed. */
  readonly truncated: boolean;
}

export class MultipartService {
  readonly #ctx: NodeContext;
  readonly #files: FileService;
  readonly #digests: UploadDigests;

  constructor(ctx: NodeContext, files: FileService) {
    this.#ctx = ctx;
    this.#files = files;
    this.#digests = new UploadDigests((uploadId, partNumber) => ctx.metadata.getPart(uploadId, partNumber), (part, into) => this.#hashPart(part, into));
  }

  // ---- read ----

  /** The upload and its parts, by part number; null when it is not in progress. */
  find(ref: UploadRef): { upload: UploadJson; parts: PartJson[] } | null {
    const upload = this.#upload(ref);
    if (upload === null) return null;
    return { upload: toUploadJson(upload), parts: this.#ctx.metadata.listParts(upload.uploadId).map(toPartJson) };
  }

  /** Uploads in progress under `prefix`, in (name, upload id) order after the cursor. */
  list(query: { prefix: string; afterName: string; afterId: string; limit: number }): UploadListing {
    const rows = this.#ctx.metadata.listUploads({ ...query, limit: query.limit + 1 });
    return { uploads: rows.slice(0, query.limit).map(toUploadJson), truncated: rows.length > query.limit };
  }

  // ---- write ----

  async create(request: CreateUploadRequest): Promise<UploadJson> {
    const ctx = this.#ctx;
    const result = await proposeUploadCommand(ctx, {
      op: 'createUpload',
      uploadId: randomBytes(16).toString('hex'),
      name: request.name,
      bucket: request.bucket,
      contentType: request.contentType,
      ...(request.headers !== undefined && Object.keys(request.headers).length > 0 ? { headers: request.headers } : {}),
      hlc: stampHlc(ctx),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
    });
    return (result as { upload: UploadJson }).upload;
  }

  /** Stores a part (replacing one with the same number); resolves once its entry is applied here. */
  async writePart(request: PartWriteRequest): Promise<PartJson> {
    const ctx = this.#ctx;
    // Refused before a byte is read when the upload is unknown (after a barrier: a new leader may
    // not have applied its create yet). The entry decides again when applied.
    await this.#requireUpload(request);
    const upload = {
      body: request.body,
      computeMd5: true,
      ...(request.expectedLength === undefined ? {} : { expectedLength: request.expectedLength }),
      ...(request.expectedSha256 === undefined ? {} : { expectedSha256: request.expectedSha256 }),
    };
    return await this.#files.storeChunked(upload, async (stored) => {
      const result = await proposeUploadCommand(ctx, {
        op: 'putPart',
        uploadId: request.uploadId,
        partNumber: request.partNumber,
        size: stored.size,
        md5: stored.md5!,
        sha256: stored.etag,
        chunks: stored.chunks,
        chunkSizes: stored.chunkSizes,
        hlc: stampHlc(ctx),
        ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
      });
      const part = (result as { part: PartJson }).part;
      this.#digests.partStored(request.uploadId, part.partNumber);
      return part;
    });
  }

  /**
   * A part made of bytes `start` to `end` of a stored version (S3's UploadPartCopy): they are read
   * and written as a new part (its own chunks: a range seldom falls on chunk boundaries, and the
   * part needs its MD5 anyway).
   */
  async copyPart(request: UploadRef & { partNumber: number; source: FileRecord; start: number; end: number; requestId?: string }): Promise<PartJson> {
    await this.#requireUpload(request);
    const length = Math.max(0, request.end - request.start + 1);
    const bytes = length === 0 ? Buffer.alloc(0) : await this.#files.open(request.source, request.start, request.end);
    const body: AsyncIterable<Uint8Array> = Buffer.isBuffer(bytes) ? (async function* () { yield bytes; })() : bytes;
    return await this.writePart({ ...request, body, expectedLength: length });
  }

  /**
   * Completes an upload: the client's part list checked against the parts (S3's rules), the whole
   * content hashed from the parts' chunks (read back once, a chunk at a time), then one entry.
   */
  async complete(request: CompleteRequest): Promise<FileJson> {
    const ctx = this.#ctx;
    const upload = await this.#requireUpload(request);
    const stored = new Map(ctx.metadata.listParts(upload.uploadId).map((part) => [part.partNumber, part]));
    const problem = completionProblem(request.parts, (partNumber) => stored.get(partNumber) ?? null);
    if (problem !== null) throw new FileError(problem.code, problem.message);
    const parts = request.parts.map((wanted) => stored.get(wanted.partNumber)!);
    const size = parts.reduce((sum, part) => sum + part.size, 0);
    if (size > ctx.config.maxFileSize) throw new BodyTooLargeError(ctx.config.maxFileSize, `the parts add up to ${size} bytes, over the limit of ${ctx.config.maxFileSize}`);
    const etag = await this.#contentSha256(upload.uploadId, parts);
    const result = await proposeUploadCommand(ctx, {
      op: 'completeUpload',
      uploadId: upload.uploadId,
      // The ETags the client named, decided again when the entry applies; the SHA-256s of the parts just read.
      parts: request.parts.map((wanted, i) => ({ partNumber: wanted.partNumber, md5: wanted.md5, sha256: parts[i].sha256 })),
      etag,
      hlc: stampHlc(ctx),
      ...(request.precondition !== undefined ? { precondition: request.precondition } : {}),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
    });
    return (result as { file: FileJson }).file;
  }

  async abort(request: UploadRef & { requestId?: string }): Promise<UploadJson> {
    const ctx = this.#ctx;
    const upload = await this.#requireUpload(request);
    this.#digests.forget(upload.uploadId);
    const result = await proposeUploadCommand(ctx, {
      op: 'abortUpload',
      uploadId: upload.uploadId,
      hlc: stampHlc(ctx),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
    });
    return (result as { upload: UploadJson }).upload;
  }

  /** Aborts (some of) the uploads created more than `expiryMs` ago; returns their ids. */
  async expire(expiryMs: number): Promise<readonly string[]> {
    const ctx = this.#ctx;
    const hlc = stampHlc(ctx);
    const createdBeforeMs = Math.max(0, decodeHlc(hlc).wallMs - expiryMs);
    if (!ctx.metadata.hasUploadsCreatedBefore(createdBeforeMs)) return [];
    const result = await proposeUploadCommand(ctx, { op: 'expireUploads', createdBeforeMs, hlc });
    return (result as { expired: readonly string[] }).expired;
  }

  #upload(ref: UploadRef): UploadRecord | null {
    const upload = this.#ctx.metadata.getUpload(ref.uploadId);
    if (upload === null || (ref.name !== undefined && upload.name !== ref.name)) return null;
    return upload;
  }

  /** The upload, read after a barrier when not found at once; no_such_upload when there is none. */
  async #requireUpload(ref: UploadRef): Promise<UploadRecord> {
    let upload = this.#upload(ref);
    if (upload === null) {
      await this.#ctx.raft.readBarrier();
      upload = this.#upload(ref);
    }
    if (upload === null) throw new FileError('no_such_upload', `no upload ${ref.uploadId} in progress${ref.name === undefined ? '' : ` for "${ref.name}"`}`);
    return upload;
  }

  /** SHA-256 of the parts' bytes in order: what the running digest covered, then the rest read and hashed. */
  async #contentSha256(uploadId: string, parts: readonly PartRecord[]): Promise<string> {
    const started = performance.now();
    const { hash, covered } = await this.#digests.take(uploadId, parts);
    for (const part of parts.slice(covered)) await this.#hashPart(part, hash);
    this.#ctx.metrics.multipartDigestSeconds.observe({ parts_left: covered === parts.length ? 'none' : 'some' }, (performance.now() - started) / 1000);
    return hash.digest('hex');
  }

  /** Feeds a part's bytes to `into`: every chunk read (verified by its hash), one at a time. */
  async #hashPart(part: PartRecord, into: Hash): Promise<void> {
    const ctx = this.#ctx;
    for (const [i, hash] of part.chunks.entries()) {
      const size = part.chunkSizes[i];
      await ctx.downloadMemory.acquire(size);
      try {
        // Hashed at once: its reused buffer goes back right after.
        const chunk = await loadChunkLeased(ctx, hash);
        into.update(chunk.data);
        chunk.release();
      } finally {
        ctx.downloadMemory.release(size);
      }
    }
  }
}
