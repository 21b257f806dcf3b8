// The multipart tables' queries (schema.ts: multipart_uploads, multipart_parts), prepared once on
// the node's connection. Plain SQL: the listing needs row-value comparisons.
import type Database from 'better-sqlite3';
import type { ObjectHeaders } from '../../../shared/object-headers.ts';

export interface UploadRecord {
  readonly uploadId: string;
  readonly name: string;
  readonly bucket: string;
  readonly contentType: string;
  /** The headers the completed version keeps; null when none. */
  readonly headers: ObjectHeaders | null;
  readonly createdMs: number;
}

interface UploadRow extends Omit<UploadRecord, 'headers'> {
  readonly headers: string | null;
}

export interface PartRecord {
  readonly uploadId: string;
  readonly partNumber: number;
  readonly size: number;
  readonly md5: string;
  readonly sha256: string;
  readonly chunks: readonly string[];
  readonly chunkSizes: readonly number[];
  readonly modifiedMs: number;
}

interface PartRow extends Omit<PartRecord, 'chunks' | 'chunkSizes'> {
  readonly chunks: string;
  readonly chunkSizes: string;
}

const uploadColumns = 'upload_id AS uploadId, name, bucket, content_type AS contentType, headers, created_ms AS createdMs';
const partColumns = 'upload_id AS uploadId, part_number AS partNumber, size, md5, sha256, chunks, chunk_sizes AS chunkSizes, modified_ms AS modifiedMs';

function toUpload(row: UploadRow): UploadRecord {
  return { ...row, headers: row.headers === null ? null : (JSON.parse(row.headers) as ObjectHeaders) };
}

function toPart(row: PartRow): PartRecord {
  return { ...row, chunks: JSON.parse(row.chunks) as string[], chunkSizes: JSON.parse(row.chunkSizes) as number[] };
}

export function prepareMultipartStatements(sqlite: Database.Database) {
  const upload = sqlite.prepare<[string], UploadRow>(`SELECT ${uploadColumns} FROM multipart_uploads WHERE upload_id = ?`);
  const insertUpload = sqlite.prepare<[UploadRow]>('INSERT INTO multipart_uploads (upload_id, name, bucket, content_type, headers, created_ms) VALUES (@uploadId, @name, @bucket, @contentType, @headers, @createdMs)');
  const deleteUpload = sqlite.prepare<[string]>('DELETE FROM multipart_uploads WHERE upload_id = ?');
  const part = sqlite.prepare<[string, number], PartRow>(`SELECT ${partColumns} FROM multipart_parts WHERE upload_id = ? AND part_number = ?`);
  const parts = sqlite.prepare<[string], PartRow>(`SELECT ${partColumns} FROM multipart_parts WHERE upload_id = ? ORDER BY part_number`);
  const upsertPart = sqlite.prepare<[Record<string, unknown>]>(
    'INSERT OR REPLACE INTO multipart_parts (upload_id, part_number, size, md5, sha256, chunks, chunk_sizes, modified_ms) VALUES (@uploadId, @partNumber, @size, @md5, @sha256, @chunks, @chunkSizes, @modifiedMs)',
  );
  const deleteParts = sqlite.prepare<[string]>('DELETE FROM multipart_parts WHERE upload_id = ?');
  // Uploads in (name, upload id) order after a cursor, with names from `from` (inclusive) up to `upper` (exclusive, null: none).
  const uploadsAfter = sqlite.prepare<{ from: string; afterName: string; afterId: string; upper: string | null; limit: number }, UploadRow>(
    `SELECT ${uploadColumns} FROM multipart_uploads
     WHERE name >= @from AND (@upper IS NULL OR name < @upper) AND (name, upload_id) > (@afterName, @afterId)
     ORDER BY name, upload_id LIMIT @limit`,
  );
  const createdBefore = sqlite.prepare<[number, number], { uploadId: string }>(
    'SELECT upload_id AS uploadId FROM multipart_uploads WHERE created_ms < ? ORDER BY created_ms, upload_id LIMIT ?',
  );
  return {
    upload: (uploadId: string): UploadRecord | null => {
      const row = upload.get(uploadId);
      return row === undefined ? null : toUpload(row);
    },
    insertUpload: (record: UploadRecord): void => void insertUpload.run({ ...record, headers: record.headers === null ? null : JSON.stringify(record.headers) }),
    deleteUpload: (uploadId: string): void => void deleteUpload.run(uploadId),
    part: (uploadId: string, partNumber: number): PartRecord | null => {
      const row = part.get(uploadId, partNumber);
      return row === undefined ? null : toPart(row);
    },
    parts: (uploadId: string): PartRecord[] => parts.all(uploadId).map(toPart),
    upsertPart: (record: PartRecord): void => void upsertPart.run({ ...record, chunks: JSON.stringify(record.chunks), chunkSizes: JSON.stringify(record.chunkSizes) }),
    deleteParts: (uploadId: string): void => void deleteParts.run(uploadId),
    uploadsAfter: (query: { from: string; afterName: string; afterId: string; upper: string | null; limit: number }): UploadRecord[] => uploadsAfter.all(query).map(toUpload),
    createdBefore: (beforeMs: number, limit: number): string[] => createdBefore.all(beforeMs, limit).map((row) => row.uploadId),
  };
}

export type MultipartStatements = ReturnType<typeof prepareMultipartStatements>;
