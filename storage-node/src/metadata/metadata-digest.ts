// A digest of the replicated metadata, so that replicas can be compared from outside (the chaos
// suite does): two nodes at the same applied index must give the same digest. Computed on demand
// in one synchronous read, streaming rows, so it is consistent and its memory does not grow.
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';

export interface MetadataDigest {
  readonly appliedIndex: number;
  readonly digest: string;
  readonly files: number;
  readonly versions: number;
}

export function metadataDigest(sqlite: Database.Database): MetadataDigest {
  const hash = createHash('sha256');
  let files = 0;
  let versions = 0;
  const read = sqlite.transaction(() => {
    const applied = sqlite.prepare('SELECT applied_index FROM applied_state').pluck().get() as number | undefined;
    for (const row of sqlite.prepare('SELECT name, current_version, last_version FROM files ORDER BY name').raw().iterate()) {
      hash.update(`f\0${JSON.stringify(row)}\n`);
      files++;
    }
    const versionRows = sqlite.prepare('SELECT name, version, size, content_type, etag, chunks, chunk_sizes, hlc FROM file_versions ORDER BY name, version');
    for (const row of versionRows.raw().iterate()) {
      hash.update(`v\0${JSON.stringify(row)}\n`);
      versions++;
    }
    // Referenced chunks only: rows at refcount 0 wait for each node's own garbage collector.
    for (const row of sqlite.prepare('SELECT hash, refcount FROM chunk_refs WHERE refcount > 0 ORDER BY hash').raw().iterate()) {
      hash.update(`c\0${JSON.stringify(row)}\n`);
    }
    // Inline content by hash: its reference count and length (the hash names the bytes).
    for (const row of sqlite.prepare('SELECT hash, refcount, length(content) FROM inline_contents ORDER BY hash').raw().iterate()) {
      hash.update(`i\0${JSON.stringify(row)}\n`);
    }
    return applied ?? 0;
  });
  const appliedIndex = read();
  return { appliedIndex, digest: hash.digest('hex'), files, versions };
}
