// The file service: what happens between a protocol and the storage, start to finish. A write
// streams the body either into meta.db through the Raft entry (small content, inline) or into
// chunks replicated to a majority, then proposes the put and waits for it to apply; a read finds
// the version and streams its bytes (or a range); a delete proposes the delete. Routes only parse
// requests and shape answers; everything they ask of a file is asked here.
import { BodyIncompleteError, BodyTooLargeError, chunkBufferBytes, chunkStream } from '../blobs/chunker.ts';
import type { ChunkedBody } from '../blobs/chunker.ts';
import { sha256Hex } from '../../../shared/sha256.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';
import type { FileJson, Precondition, VersionJson } from '../metadata/commands.ts';
import type { DeleteMarkerState } from '../metadata/metadata-state-machine.ts';
import type { FileListPage, FileRecord } from '../metadata/file-record.ts';
import type { NodeContext } from '../node/node-context.ts';
import { RaftTimeoutError } from '../raft-node/errors.ts';
import { readBodyPrefix } from './body-prefix.ts';
import { ContentMd5, md5Hex } from './content-md5.ts';
import { openContent, openLeasedContent } from './content-reader.ts';
import type { ContentBytes, LeasedPiece } from './content-reader.ts';
import { FileError } from './file-errors.ts';
import { proposeCommand, stampHlc } from './propose.ts';
import { replicateChunk } from './replicate-chunk.ts';
import { ReplicationWindow } from './replication-window.ts';

export interface WriteRequest {
  readonly name: string;
  readonly contentType: string;
  /** The headers the version keeps (shared/object-headers.ts); none when absent or empty. */
  readonly headers?: ObjectHeaders;
  readonly body: AsyncIterable<Uint8Array>;
  /** The declared length (Content-Length), when the client sent one. */
  readonly expectedLength?: number;
  readonly precondition?: Precondition;
  /** The Idempotency-Key. */
  readonly requestId?: string;
  /** An S3 bucket that must exist when the put is applied (the S3 gateway's PutObject). */
  readonly bucket?: string;
  /** Also compute the content's MD5 (the version's S3 ETag): one more hash pass over the bytes. */
  readonly computeMd5?: boolean;
  /**
   * The content's hex SHA-256 as the client declared it (a signed x-amz-content-sha256): checked
   * against the hash every write computes anyway, before anything is proposed.
   */
  readonly expectedSha256?: string;
}

export interface DeleteRequest {
  readonly name: string;
  /** Only this kept version (see DeleteCommand.version). */
  readonly version?: number;
  /** Leave a delete marker, keeping the versions (see DeleteCommand.keepHistory). */
  readonly keepHistory?: boolean;
  readonly precondition?: Precondition;
  readonly requestId?: string;
}

export interface CopyRequest {
  readonly name: string;
  readonly source: string;
  /** The source's version to copy; its current version when absent. */
  readonly sourceVersion?: number;
  /** The copy's Content-Type; the source's when absent. */
  readonly contentType?: string;
  /** The copy's stored headers (`{}`: none); the source's when absent. */
  readonly headers?: ObjectHeaders;
  readonly precondition?: Precondition;
  readonly requestId?: string;
  readonly bucket?: string;
}

/** A body to store in chunks (never inline): a file's content, or a part of a multipart upload. */
export interface ChunkedUpload {
  readonly body: AsyncIterable<Uint8Array>;
  readonly expectedLength?: number;
  /** Also compute the content's MD5. */
  readonly computeMd5?: boolean;
  /** The content's declared hex SHA-256 (see WriteRequest.expectedSha256). */
  readonly expectedSha256?: string;
}

/** What storing a body gave: its chunks, durable on a majority, and its hashes. */
export interface StoredContent extends ChunkedBody {
  /** Hex MD5 of the content, when asked for. */
  readonly md5: string | null;
}

export class FileService {
  readonly #ctx: NodeContext;

  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
  }

  // ---- read ----

  /** The current version, or version `version` while it is kept; null when there is none. */
  find(name: string, version?: number): FileRecord | null {
    return this.#ctx.metadata.getFile(name, version);
  }

  /** Live files in name order: those starting with `prefix`, after the `after` cursor. */
  list(query: { prefix: string; after: string | null; limit: number }): FileListPage {
    return this.#ctx.metadata.listFiles(query);
  }

  /** The kept versions, newest first, delete markers among them. */
  versions(name: string): VersionJson[] {
    return this.#ctx.metadata.listVersions(name);
  }

  /** The delete marker that version `version` is, or (without one) that hides the name; null when none. */
  deleteMarker(name: string, version?: number): DeleteMarkerState | null {
    return this.#ctx.metadata.deleteMarker(name, version);
  }

  /** Names with any kept version, live or behind a delete marker, in name order. */
  namesWithVersions(query: { prefix: string; after: string | null; limit: number }): { names: string[]; next: string | null } {
    return this.#ctx.metadata.listNamesWithVersions(query);
  }

  /** Bytes `start` to `end` (inclusive) of a version found with find(). */
  open(record: FileRecord, start: number, end: number): Promise<ContentBytes> {
    return openContent(this.#ctx, record, start, end);
  }

  /** open() for a consumer that releases each piece once done with its bytes (reused buffers). */
  openLeased(record: FileRecord, start: number, end: number): Promise<Buffer | AsyncIterableIterator<LeasedPiece>> {
    return openLeasedContent(this.#ctx, record, start, end);
  }

  // ---- write ----

  /** Stores a new version from the body; resolves once its put entry is applied here. */
  async write(request: WriteRequest): Promise<FileJson> {
    const { config, uploadMemory } = this.#ctx;
    const { expectedLength } = request;
    // Refuse before reading a byte, so the client still listens to the 413.
    if (expectedLength !== undefined && expectedLength > config.maxFileSize) {
      throw new BodyTooLargeError(config.maxFileSize, `body of ${expectedLength} bytes exceeds the limit of ${config.maxFileSize}`);
    }
    const mayBeInline = config.inlineMax > 0 && (expectedLength === undefined || expectedLength <= config.inlineMax);
    if (!mayBeInline) return this.#writeChunked(request, request.body, this.#admit(chunkBufferBytes(config.chunkSize, expectedLength)));

    // Read up to one byte past the inline limit: then the body is known to be small, or not.
    let reserved = this.#admit(expectedLength ?? config.inlineMax + 1);
    try {
      const prefix = await readBodyPrefix(request.body, config.inlineMax, expectedLength);
      if (prefix.ended) {
        checkWholeLength(prefix.bytes.length, expectedLength, config.maxFileSize);
        return await this.#writeSmall(request, prefix.bytes);
      }
      // Longer than inline: the chunker takes the prefix and the rest, one chunk at a time. It
      // reserves its own buffers; this upload holds nothing while it may wait for one.
      uploadMemory.release(reserved);
      reserved = 0;
      return await this.#writeChunked(request, prefix.whole, 0);
    } finally {
      uploadMemory.release(reserved);
    }
  }

  /**
   * A new version of `name` with the chunks (or inline content) of a source version: metadata
   * only, no bytes copied. The version is fixed here (the current one unless named) and the entry
   * is decided against it when applied: a source deleted or pruned in between refuses the copy.
   */
  async copy(request: CopyRequest): Promise<{ file: FileJson; sourceVersion: number }> {
    const ctx = this.#ctx;
    const sourceVersion = request.sourceVersion ?? this.find(request.source)?.version;
    if (sourceVersion === undefined) throw new FileError('no_such_source', `no file "${request.source}" to copy`);
    const result = await proposeCommand(ctx, {
      op: 'copy',
      name: request.name,
      source: request.source,
      sourceVersion,
      ...(request.contentType !== undefined ? { contentType: request.contentType } : {}),
      ...(request.headers !== undefined ? { headers: request.headers } : {}),
      hlc: stampHlc(ctx),
      ...(request.precondition !== undefined ? { precondition: request.precondition } : {}),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
      ...(request.bucket !== undefined ? { bucket: request.bucket } : {}),
    });
    return { file: result.file, sourceVersion };
  }

  /**
   * Ends a file's history (every kept version), removes one kept version, or (keepHistory) leaves
   * a delete marker in front of the kept versions; resolves with the version it removed, or the
   * marker it made (`deleteMarker: true` on either when it is one).
   */
  async delete(request: DeleteRequest): Promise<FileJson> {
    const ctx = this.#ctx;
    const result = await proposeCommand(ctx, {
      op: 'delete',
      name: request.name,
      ...(request.version !== undefined ? { version: request.version } : {}),
      ...(request.keepHistory === true ? { keepHistory: true } : {}),
      hlc: stampHlc(ctx),
      ...(request.precondition !== undefined ? { precondition: request.precondition } : {}),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
    });
    return result.file;
  }

  /** Reserves a new upload's first buffer, or refuses it (503 busy) when the node's budget is spent. */
  #admit(bytes: number): number {
    const { uploadMemory, metrics } = this.#ctx;
    if (uploadMemory.tryAcquire(bytes)) return bytes;
    metrics.uploadsRefused.inc({ reason: 'busy' });
    throw new FileError('busy', `uploads hold ${uploadMemory.bytesInUse} of the node's ${uploadMemory.bytesMax} bytes of upload memory; retry shortly`);
  }

  /** A body of at most --inline-max bytes, whole in memory: it travels in the put entry itself. */
  async #writeSmall(request: WriteRequest, content: Buffer): Promise<FileJson> {
    const ctx = this.#ctx;
    const etag = sha256Hex(content);
    checkDeclaredSha256(etag, request.expectedSha256);
    const result = await proposeCommand(ctx, {
      op: 'put',
      name: request.name,
      size: content.length,
      contentType: request.contentType,
      ...nonEmptyHeaders(request.headers),
      etag,
      ...(request.computeMd5 === true ? { md5: md5Hex(content) } : {}),
      chunks: [],
      // An empty file has no content to keep.
      ...(content.length > 0 ? { inline: content.toString('base64') } : {}),
      hlc: stampHlc(ctx),
      ...(request.precondition !== undefined ? { precondition: request.precondition } : {}),
      ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
      ...(request.bucket !== undefined ? { bucket: request.bucket } : {}),
    });
    return result.file;
  }

  /** A body too large (or of unknown length) for inline content: chunks, then the put. */
  async #writeChunked(request: WriteRequest, source: AsyncIterable<Uint8Array>, firstReserved: number): Promise<FileJson> {
    const ctx = this.#ctx;
    const upload = {
      body: source,
      ...(request.expectedLength === undefined ? {} : { expectedLength: request.expectedLength }),
      ...(request.expectedSha256 === undefined ? {} : { expectedSha256: request.expectedSha256 }),
      computeMd5: request.computeMd5 === true,
    };
    return await this.#storeChunks(upload, firstReserved, async (stored) => {
      const result = await proposeCommand(ctx, {
        op: 'put',
        name: request.name,
        size: stored.size,
        contentType: request.contentType,
        ...nonEmptyHeaders(request.headers),
        etag: stored.etag,
        ...(stored.md5 === null ? {} : { md5: stored.md5 }),
        chunks: stored.chunks,
        chunkSizes: stored.chunkSizes,
        hlc: stampHlc(ctx),
        ...(request.precondition !== undefined ? { precondition: request.precondition } : {}),
        ...(request.requestId !== undefined ? { requestId: request.requestId } : {}),
        ...(request.bucket !== undefined ? { bucket: request.bucket } : {}),
      });
      return result.file;
    });
  }

  /**
   * Stores a body in chunks replicated to a majority (never inline), then calls `finish` with
   * them, which proposes the entry that refers to them: until it settles the chunks are held from
   * the collector. A multipart upload's parts are written this way.
   */
  async storeChunked<T>(upload: ChunkedUpload, finish: (stored: StoredContent) => Promise<T>): Promise<T> {
    const { config } = this.#ctx;
    if (upload.expectedLength !== undefined && upload.expectedLength > config.maxFileSize) {
      throw new BodyTooLargeError(config.maxFileSize, `body of ${upload.expectedLength} bytes exceeds the limit of ${config.maxFileSize}`);
    }
    return await this.#storeChunks(upload, this.#admit(chunkBufferBytes(config.chunkSize, upload.expectedLength)), finish);
  }

  /**
   * Data before metadata: chunks replicated to a majority through a window of pushes, then
   * `finish`. `firstReserved` bytes of upload memory are already held for the first chunk buffer.
   */
  async #storeChunks<T>(upload: ChunkedUpload, firstReserved: number, finish: (stored: StoredContent) => Promise<T>): Promise<T> {
    const ctx = this.#ctx;
    const source = upload.body;
    const { config, uploadMemory } = ctx;
    const startedMs = Date.now();
    // Upload memory reserved for the chunk buffer being filled (handed to the window with its chunk).
    let bufferReserved = firstReserved;
    // The collector leaves this upload's chunks alone until its entry is applied (or it fails).
    const holds = ctx.chunkGuard.upload();
    const window = new ReplicationWindow((hash, data, stragglers) => replicateChunk(ctx, hash, data, stragglers), config.uploadWindowChunks);
    let releaseLater = false;
    const md5 = upload.computeMd5 === true ? new ContentMd5() : null;
    try {
      const body = await chunkStream(
        md5 === null ? source : md5.tap(source),
        config.chunkSize,
        (chunk) => {
          holds.hold(chunk.hash);
          const held = bufferReserved;
          bufferReserved = 0;
          const waitStarted = performance.now();
          return window.add(chunk.hash, chunk.data, () => {
            uploadMemory.release(held);
            // Its local write and every push have ended: nothing reads these bytes any more.
            ctx.chunkBuffers.give(chunk.data);
          }).then(() => {
            ctx.metrics.chunkStageSeconds.observe({ stage: 'window_wait' }, (performance.now() - waitStarted) / 1000);
          });
        },
        {
          expectedLength: upload.expectedLength,
          sizeMax: config.maxFileSize,
          onStage: (stage, seconds) => ctx.metrics.chunkStageSeconds.observe({ stage }, seconds),
          buffers: ctx.chunkBuffers,
          reserveBuffer: async (bytes) => {
            if (bufferReserved >= bytes) {
              uploadMemory.release(bufferReserved - bytes);
            } else {
              await uploadMemory.acquire(bytes - bufferReserved);
            }
            bufferReserved = bytes;
          },
        },
      );
      await window.finish();
      // Replicas protect pushed chunks for the grace period only (they cannot see this upload).
      if (Date.now() - startedMs >= config.gcGraceMs) {
        throw new FileError('upload_too_slow', `the upload took longer than the chunk grace period (${config.gcGraceMs} ms); retry it`);
      }
      // Its chunks are durable but nothing refers to them: they are collected like any orphan.
      checkDeclaredSha256(body.etag, upload.expectedSha256);
      return await finish({ ...body, md5: md5 === null ? null : md5.hex() });
    } catch (err) {
      window.abort();
      // Outcome unknown: the entry may still commit, so keep its chunks safe a while longer.
      releaseLater = err instanceof RaftTimeoutError;
      throw err;
    } finally {
      uploadMemory.release(bufferReserved);
      if (releaseLater) setTimeout(() => holds.release(), config.gcGraceMs).unref();
      else holds.release();
    }
  }
}

/** `{ headers }` for a put that has some to keep; nothing otherwise (the entry stays as it was). */
function nonEmptyHeaders(headers: ObjectHeaders | undefined): { headers?: ObjectHeaders } {
  return headers === undefined || Object.keys(headers).length === 0 ? {} : { headers };
}

/** The content's SHA-256 must be the one the client declared, when it declared one. */
function checkDeclaredSha256(actualHex: string, declaredHex: string | undefined): void {
  if (declaredHex === undefined || declaredHex === actualHex) return;
  throw new FileError('x_amz_content_sha256_mismatch', `the body does not hash to its x-amz-content-sha256 (${declaredHex}); its SHA-256 is ${actualHex}`);
}

/** A whole body read at once must have its declared length and fit the size limit. */
function checkWholeLength(received: number, expectedLength: number | undefined, sizeMax: number): void {
  if (received > sizeMax) throw new BodyTooLargeError(sizeMax, `body exceeds the limit of ${sizeMax} bytes`);
  if (expectedLength === undefined) return;
  if (received < expectedLength) throw new BodyIncompleteError(received, expectedLength);
  if (received > expectedLength) throw new BodyTooLargeError(expectedLength, `body is longer than its declared ${expectedLength} bytes`);
}
