// peak_rss: resident memory of each node and the gateway while a large file streams in and out.
// The first figure covers the upload and download sections (1 GiB files); the second, a file of
// another size (4 GiB) sent up through the gateway and read back from a follower and through the
// gateway, so that memory growing with the file shows as two different figures.
import fs from 'node:fs';
import type { GatewayCluster } from '../../test/support/gateway-cluster.ts';
import type { BaselineServer } from './baseline-server.ts';
import { formatBytes, GiB, mbPerSecond, MiB, round, waitFor } from './common.ts';
import type { Table } from './common.ts';
import { chunkPath, streamDownload, streamUpload } from './data-path-bench.ts';
import { RssSampler } from './rss-sampler.ts';
import type { PeakRss } from './rss-sampler.ts';

/** Targets of issue 11: a node's peak RSS while a large file streams, and the gateway's. */
export const nodeRssLimitMiB = 150;
export const gatewayRssLimitMiB = 100;
/** Free space left on the scratch disk after the large file's three copies, or it is skipped. */
const diskMarginBytes = 4 * GiB;

/** `size_1_gib`, `size_64_mib`: the key a file size's figures go under. */
export function sizeKey(bytes: number): string {
  return `size_${formatBytes(bytes).replace(' ', '_').toLowerCase()}`;
}

/** The processes to watch: every node, the gateway, and the plain server when there is one. */
export function processIds(cluster: GatewayCluster, baseline: BaselineServer | null): Map<string, number> {
  const pids = new Map<string, number>();
  for (const node of cluster.storage.nodes) if (node.child?.pid !== undefined) pids.set(node.id, node.child.pid);
  for (const gateway of cluster.gateways) if (gateway.child?.pid !== undefined) pids.set('gateway', gateway.child.pid);
  if (baseline !== null) pids.set('baseline_server', baseline.pid);
  return pids;
}

/** The figures of one measurement, and its row in the table. */
export function peakRssResult(cluster: GatewayCluster, peaks: Record<string, PeakRss>, during: string, bytes: number, table: Table): Record<string, unknown> {
  const mib = (id: string) => peaks[id]?.peakMiB ?? NaN;
  const nodeIds = cluster.storage.nodes.map((n) => n.id);
  const nodeMax = Math.max(...nodeIds.map(mib));
  const within = nodeMax < nodeRssLimitMiB && mib('gateway') < gatewayRssLimitMiB;
  const growth = (id: string) => peaks[id]?.growthMiB ?? NaN;
  const versus = `${within ? 'within' : 'OVER'} ${nodeRssLimitMiB} / ${gatewayRssLimitMiB} MiB; grew by ${[...nodeIds.map(growth), growth('gateway')].join(' / ')} MiB from idle` + (peaks.baseline_server === undefined ? '' : `; plain server: ${mib('baseline_server')} MiB`);
  table.row('peak_rss', `${formatBytes(bytes)}, during ${during}: ${nodeIds.join(' / ')} / gateway`, `${[...nodeIds.map(mib), mib('gateway')].join(' / ')} MiB`, versus);
  return { during, file_bytes: bytes, node_max_mib: nodeMax, gateway_mib: mib('gateway'), within_limits: within, ...peaks };
}

/** A file of `bytes` up through the gateway, down from a follower and through the gateway, memory sampled throughout. */
export async function benchLargeFileRss(cluster: GatewayCluster, bytes: number, scratchDir: string, table: Table): Promise<Record<string, unknown>> {
  const free = fs.statfsSync(scratchDir);
  const freeBytes = free.bavail * free.bsize;
  const needed = 3 * bytes + diskMarginBytes;
  if (freeBytes < needed) {
    const reason = `skipped: the scratch disk has ${round(freeBytes / GiB, 1)} GiB free, a ${formatBytes(bytes)} file needs ${round(needed / GiB, 1)} GiB (three copies and a margin)`;
    table.row('peak_rss', `${formatBytes(bytes)} file`, 'skipped', reason);
    return { skipped: reason };
  }
  const sampler = new RssSampler(processIds(cluster, null));
  sampler.start(100);
  const speeds: Record<string, number> = {};
  let peaks: Record<string, PeakRss>;
  try {
    const name = `bench/rss-${bytes}.bin`;
    const up = await streamUpload(`${cluster.url}/files/${name}`, `raft-dfs bench rss ${bytes}`, bytes);
    if (up.status !== 201) throw new Error(`upload through the gateway answered ${up.status}: ${up.text.slice(0, 300)}`);
    speeds.upload_through_gateway_mb_per_second = mbPerSecond(bytes, up.ms);
    const file = JSON.parse(up.text) as { etag: string; chunks: string[] };
    const leaderId = await cluster.waitForLeader();
    const follower = cluster.storage.nodes.find((n) => n.id !== leaderId && n.child !== null);
    if (follower === undefined) throw new Error('no follower running');
    await waitFor(() => file.chunks.every((h) => fs.existsSync(chunkPath(follower.dataDir, h))), 120_000, 200);
    for (const [what, url] of [[`follower`, follower.url], ['gateway', cluster.url]] as const) {
      const down = await streamDownload(`${url}/files/${name}`);
      if (down.status !== 200 || down.bytes !== bytes) throw new Error(`download from the ${what} answered ${down.status} with ${down.bytes} of ${bytes} bytes`);
      if (down.headers.etag !== `"${file.etag}"`) throw new Error(`download from the ${what}: ETag ${String(down.headers.etag)}`);
      speeds[`download_from_${what}_mb_per_second`] = mbPerSecond(bytes, down.ms);
    }
  } finally {
    peaks = sampler.stop();
  }
  return { ...peakRssResult(cluster, peaks, 'upload through the gateway, download from a follower and through the gateway', bytes, table), ...speeds };
}

export const rssLargeBytesDefault = 4 * GiB;
export const rssLargeBytesQuick = 256 * MiB;
