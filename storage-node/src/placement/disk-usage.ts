// How full a node's disk is, as the leader's disk watch reads it (GET /admin/disk): the share of
// the blob store's file system in use, by statfs, counting the blocks reserved for root as used
// (df's view: what this process can no longer write).
import { statfs } from 'node:fs/promises';
import { request } from 'undici';
import { peerAgent } from '../../../shared/tls-client.ts';
import type { NodeContext } from '../node/node-context.ts';
import { CLUSTER_SECRET_HEADER } from '../transport/cluster-auth.ts';

export interface DiskUsage {
  readonly id: string;
  /** Percent of the disk in use (0 to 100, two decimals). */
  readonly used_percent: number;
  /** The node's --disk-high-water. */
  readonly high_water_percent: number;
  readonly free_bytes: number;
  readonly disk_bytes: number;
}

export async function ownDiskUsage(ctx: NodeContext): Promise<DiskUsage> {
  const disk = await statfs(ctx.blobs.dir);
  const usedPercent = disk.blocks === 0 ? 0 : Math.round((1 - disk.bavail / disk.blocks) * 10_000) / 100;
  return { id: ctx.config.id, used_percent: usedPercent, high_water_percent: ctx.config.diskHighWater, free_bytes: disk.bavail * disk.bsize, disk_bytes: disk.blocks * disk.bsize };
}

/** A member's usage, asked on its client port with the cluster secret. */
export async function memberDiskUsage(ctx: NodeContext, id: string): Promise<DiskUsage> {
  if (id === ctx.config.id) return ownDiskUsage(ctx);
  const urls = ctx.members.urlsOf(id);
  if (urls === undefined) throw new Error(`no address known for ${id}`);
  const response = await request(`${urls.clientUrl}/admin/disk`, {
    headers: { [CLUSTER_SECRET_HEADER]: ctx.config.clusterSecret },
    dispatcher: peerAgent(ctx.config.tlsCa),
    headersTimeout: ctx.config.requestTimeoutMs,
    bodyTimeout: ctx.config.requestTimeoutMs,
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${id} answered ${response.statusCode}: ${text.slice(0, 200)}`);
  const usage = JSON.parse(text) as Partial<DiskUsage>;
  if (typeof usage.used_percent !== 'number' || typeof usage.high_water_percent !== 'number') throw new Error(`${id} answered a disk usage without used_percent or high_water_percent`);
  return usage as DiskUsage;
}
