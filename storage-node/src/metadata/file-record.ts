// A stored file version as the HTTP layer reads it, and the client-facing shapes made from it.
import type { DeleteMarkerJson, FileJson, VersionJson } from './commands.ts';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';

export interface FileRecord {
  readonly name: string;
  readonly version: number;
  readonly size: number;
  readonly contentType: string;
  readonly etag: string;
  /** S3's ETag (schema.ts, file_versions.s3_etag); null when the version has none. */
  readonly s3Etag: string | null;
  readonly chunks: readonly string[];
  /** Null when the put entry did not carry them (then a Range read must stat the chunks). */
  readonly chunkSizes: readonly number[] | null;
  /** The headers kept with the version (schema.ts, file_versions.headers); null when none. */
  readonly headers: ObjectHeaders | null;
  /** The part sizes of a completed multipart upload, in order; null for a version written whole. */
  readonly partSizes: readonly number[] | null;
  /** The HLC stamp of the entry that wrote this version. */
  readonly hlc: string;
  readonly modifiedMs: number;
}

/** A kept version's row as stored: a version, or a delete marker (schema.ts, file_versions.delete_marker). */
export interface VersionRecord extends FileRecord {
  readonly deleteMarker: boolean;
}

/**
 * Inline content (kept in meta.db under the etag, not in chunks) is the one case of a non-empty
 * version without chunks: no column says it, the shape does (old rows all have chunks).
 */
export function isInline(record: { readonly size: number; readonly chunks: readonly string[] }): boolean {
  return record.size > 0 && record.chunks.length === 0;
}

/** One row of `GET /files`. */
export interface FileListItem {
  readonly name: string;
  readonly size: number;
  readonly etag: string;
  /** The version's S3 ETag, when it has one (shown only to clients that ask). */
  readonly s3Etag?: string;
  readonly version: number;
  readonly contentType: string;
  /** ISO 8601. */
  readonly modified: string;
}

export interface FileListPage {
  readonly files: readonly FileListItem[];
  /** Pass as `after` for the next page; null when this page is the last. */
  readonly next: string | null;
}

export function toFileJson(record: FileRecord | VersionRecord): FileJson {
  const marker = 'deleteMarker' in record && record.deleteMarker;
  return { ...toFileListItem(record), chunks: record.chunks, ...(marker ? { deleteMarker: true } : {}) };
}

/** A kept version as `?versions` lists it: a file's JSON, or a delete marker's. */
export function toVersionJson(record: VersionRecord): VersionJson {
  if (!record.deleteMarker) return toFileJson(record);
  const marker: DeleteMarkerJson = { name: record.name, version: record.version, deleteMarker: true, modified: new Date(record.modifiedMs).toISOString() };
  return marker;
}

export function toFileListItem(record: Omit<FileRecord, 'chunks' | 'chunkSizes' | 'hlc' | 'headers' | 'partSizes'>): FileListItem {
  return {
    name: record.name,
    size: record.size,
    etag: record.etag,
    ...(record.s3Etag === null ? {} : { s3Etag: record.s3Etag }),
    version: record.version,
    contentType: record.contentType,
    modified: new Date(record.modifiedMs).toISOString(),
  };
}

/** A file's or list item's JSON without its S3 ETag: the native answer to a client that did not ask. */
export function withoutS3Etag<T extends { readonly s3Etag?: string }>(item: T): Omit<T, 's3Etag'> {
  if (item.s3Etag === undefined) return item;
  const { s3Etag: _, ...rest } = item;
  return rest;
}
