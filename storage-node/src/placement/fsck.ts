// fsck: every chunk the metadata refers to, against where the members actually store chunks.
// A chunk is under-replicated when some of its holders lack it, missing when no member has it,
// misplaced when a member that is not one of its holders has a copy (rebalancing deletes those
// once the holders have theirs), over-replicated when it has more copies than `replication`.
// Holders come from placement alone (zones, draining and full members included), so a chunk
// whose copies could span more zones is reported only when the holder rule puts it elsewhere.
import type { NodeContext } from '../node/node-context.ts';

/** Chunk hashes listed per kind of problem in the answer (the counts are complete). */
const examplesMax = 10;

export interface MemberStorage {
  readonly id: string;
  readonly reachable: boolean;
  /** Marked down by the leader (unreachable past --dead-after): it holds nothing meanwhile. */
  readonly down: boolean;
  readonly zone: string | null;
  readonly draining: boolean;
  readonly full: boolean;
  readonly error?: string;
  readonly chunks?: number;
  readonly bytes?: number;
  readonly free_bytes?: number;
  readonly disk_bytes?: number;
}

export interface FsckReport {
  readonly replication: number;
  readonly replication_setting: number;
  readonly applied_index: number;
  readonly chunks: number;
  readonly clean: boolean;
  readonly under_replicated: number;
  readonly over_replicated: number;
  readonly misplaced: number;
  readonly missing: number;
  readonly examples: Readonly<Record<'under_replicated' | 'over_replicated' | 'misplaced' | 'missing', readonly string[]>>;
  readonly members: readonly MemberStorage[];
}

export async function fsck(ctx: NodeContext): Promise<FsckReport> {
  const { placement, metadata, members, blobClient, blobs, config } = ctx;
  const appliedIndex = metadata.appliedIndex();
  // Who stores what: this node from its own store, the others over the cluster port.
  const copies = new Map<string, string[]>();
  const down = new Set(placement.down());
  const flags = (id: string) => ({ down: down.has(id), zone: placement.zoneOf(id), draining: placement.draining().includes(id), full: placement.full().includes(id) });
  const storage: MemberStorage[] = [];
  for (const member of members.members) {
    try {
      const hashes = member.id === config.id ? blobs.list() : blobClient.list(member.id);
      for await (const hash of hashes) {
        const holders = copies.get(hash);
        if (holders === undefined) copies.set(hash, [member.id]);
        else holders.push(member.id);
      }
      const stats = member.id === config.id ? await blobs.storageStats() : await blobClient.stats(member.id);
      storage.push({ id: member.id, reachable: true, ...flags(member.id), ...stats });
    } catch (err) {
      storage.push({ id: member.id, reachable: false, ...flags(member.id), error: (err as Error).message });
    }
  }
  const counts = { under_replicated: 0, over_replicated: 0, misplaced: 0, missing: 0 };
  const examples: Record<keyof typeof counts, string[]> = { under_replicated: [], over_replicated: [], misplaced: [], missing: [] };
  const note = (kind: keyof typeof counts, hash: string) => {
    counts[kind]++;
    if (examples[kind].length < examplesMax) examples[kind].push(hash);
  };
  const replication = placement.replication();
  let chunks = 0;
  let after = '';
  for (;;) {
    const page = metadata.referencedChunks({ after, limit: 1000 });
    if (page.length === 0) break;
    for (const { hash } of page) {
      chunks++;
      const stored = copies.get(hash) ?? [];
      const holders = placement.holders(hash);
      if (stored.length === 0) note('missing', hash);
      else if (holders.some((id) => !stored.includes(id))) note('under_replicated', hash);
      if (stored.some((id) => !holders.includes(id))) note('misplaced', hash);
      if (stored.length > replication) note('over_replicated', hash);
    }
    after = page[page.length - 1].hash;
  }
  // A member marked down holds nothing: its being unreachable is what placement already works around.
  const clean = counts.missing + counts.under_replicated + counts.misplaced + counts.over_replicated === 0 && storage.every((m) => m.reachable || m.down);
  return { replication, replication_setting: placement.replicationSetting(), applied_index: appliedIndex, chunks, clean, ...counts, examples, members: storage };
}

