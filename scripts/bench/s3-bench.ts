// The `s3` section: one large object up and down through the S3 API against the same bytes
// through the native API, in one run on one cluster (3 nodes as shipped and a gateway):
//   upload    lib-storage's Upload (a multipart upload, parts sent `queueSize` at a time, the
//             SDK's default checksums) of a seeded stream, against one native PUT of the same bytes
//   download  GetObject of that object (the SDK's defaults: recent SDKs ask for the object's
//             checksum and verify it), against a native GET of the same object through the gateway
// Each direction alternates native and S3 per round; the figure is the median, the ratio S3's
// throughput over the native one (issue 14's target: at least 0.8).
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { freePorts } from '../../test/support/cluster.ts';
import { GatewayCluster } from '../../test/support/gateway-cluster.ts';
import { formatBytes, mbPerSecond, median, ratio, waitFor } from './common.ts';
import type { Table } from './common.ts';
import { defaultNodeFlags, streamDownload, streamUpload } from './data-path-bench.ts';
import { seededBytes } from './seeded-bytes.ts';

export interface S3BenchSettings {
  /** The object's size. */
  readonly bytes: number;
  readonly rounds: number;
  /** lib-storage's part size (S3's minimum is 5 MiB). */
  readonly partBytes: number;
  /** Parts lib-storage sends at once (its default is 4). */
  readonly queueSize: number;
}

/** S3 over native throughput that issue 14 asks for. */
export const s3RatioTarget = 0.8;

const bucket = 'bench';
const region = 'us-east-1';

interface RoundFigures {
  readonly nativeMs: number;
  readonly s3Ms: number;
  /** Of the S3 upload: the CompleteMultipartUpload (the leader reads the parts back to hash them). */
  readonly completeMs?: number;
}

export async function benchS3(settings: S3BenchSettings, table: Table): Promise<Record<string, unknown>> {
  const [s3Port] = await freePorts(1);
  const accessKeyId = 'BENCHROOTKEY';
  const secretAccessKey = randomBytes(24).toString('base64url');
  const cluster = await GatewayCluster.start({
    storage: { flags: defaultNodeFlags },
    gatewayFlags: ['--s3-port', String(s3Port)],
    gatewayEnv: { DFS_S3_ACCESS_KEY_ID: accessKeyId, DFS_S3_SECRET_ACCESS_KEY: secretAccessKey },
  });
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${s3Port}`, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  // How long each round's CompleteMultipartUpload took, as the client saw it.
  let completeMs = 0;
  s3.middlewareStack.add((next, context) => async (args) => {
    if (context.commandName !== 'CompleteMultipartUploadCommand') return next(args);
    const started = performance.now();
    try {
      return await next(args);
    } finally {
      completeMs += performance.now() - started;
    }
  }, { step: 'initialize', name: 'timeCompletion' });
  try {
    const ready = await waitFor(async () => {
      try {
        await s3.send(new CreateBucketCommand({ Bucket: bucket }));
        return true;
      } catch {
        return false;
      }
    }, 30_000, 200);
    if (!ready) throw new Error(`the S3 port ${s3Port} did not create a bucket within 30 s`);
    const size = settings.bytes;
    const seed = 's3-bench';
    const nativeUrl = (key: string) => `${cluster.url}/files/${bucket}/${key}`;
    const uploads: RoundFigures[] = [];
    const downloads: RoundFigures[] = [];
    for (let round = 0; round < settings.rounds; round++) {
      // The same bytes both ways: the native SHA-256 ETags must agree.
      const native = await streamUpload(nativeUrl('native.bin'), seed, size);
      if (native.status !== 201) throw new Error(`native upload: ${native.status} ${native.text.slice(0, 200)}`);
      completeMs = 0;
      const s3Started = performance.now();
      await new Upload({
        client: s3,
        params: { Bucket: bucket, Key: 's3.bin', Body: Readable.from(seededBytes(seed, size), { objectMode: false }), ContentLength: size },
        partSize: settings.partBytes,
        queueSize: settings.queueSize,
      }).done();
      const s3Ms = performance.now() - s3Started;
      uploads.push({ nativeMs: native.ms, s3Ms, completeMs });
      const nativeEtag = JSON.parse(native.text).etag as string;
      const head = await fetch(nativeUrl('s3.bin'), { method: 'HEAD' });
      if (head.headers.get('etag') !== `"${nativeEtag}"`) throw new Error(`the object uploaded through S3 is not the bytes uploaded natively (${head.headers.get('etag')} vs "${nativeEtag}")`);

      // Both downloads read the object uploaded through S3.
      const nativeDown = await streamDownload(nativeUrl('s3.bin'));
      if (nativeDown.status !== 200 || nativeDown.bytes !== size) throw new Error(`native download: ${nativeDown.status}, ${nativeDown.bytes} bytes ${nativeDown.text.slice(0, 200)}`);
      const downStarted = performance.now();
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 's3.bin' }));
      let received = 0;
      for await (const piece of got.Body as AsyncIterable<Uint8Array>) received += piece.length;
      const s3DownMs = performance.now() - downStarted;
      if (received !== size) throw new Error(`S3 download: ${received} of ${size} bytes`);
      downloads.push({ nativeMs: nativeDown.ms, s3Ms: s3DownMs });

      // Every version goes (no disk held by old rounds): a native DELETE ends a name's history,
      // where S3's DeleteObject would leave a delete marker and keep the versions.
      await fetch(nativeUrl('native.bin'), { method: 'DELETE' });
      await fetch(nativeUrl('s3.bin'), { method: 'DELETE' });
    }
    const summary = (figures: RoundFigures[]) => {
      const nativeMBs = mbPerSecond(size, median(figures.map((f) => f.nativeMs)));
      const s3MBs = mbPerSecond(size, median(figures.map((f) => f.s3Ms)));
      const rounds = figures.map((f) => ({ native: Math.round(f.nativeMs), s3: Math.round(f.s3Ms), ...(f.completeMs === undefined ? {} : { s3_complete: Math.round(f.completeMs) }) }));
      return { native_mb_per_s: nativeMBs, s3_mb_per_s: s3MBs, ratio: ratio(s3MBs, nativeMBs), rounds_ms: rounds };
    };
    const upload = summary(uploads);
    const download = summary(downloads);
    const what = `${formatBytes(size)}, median of ${settings.rounds}`;
    const completeShare = Math.round((100 * median(uploads.map((f) => f.completeMs ?? 0))) / median(uploads.map((f) => f.s3Ms)));
    table.row('s3', `upload ${what}: lib-storage, ${formatBytes(settings.partBytes)} parts × ${settings.queueSize}`, `${upload.s3_mb_per_s} MB/s (native ${upload.native_mb_per_s})`, `${upload.ratio}× of native (target ${s3RatioTarget}); Complete ${completeShare}% of it`);
    table.row('s3', `download ${what}: GetObject, SDK defaults`, `${download.s3_mb_per_s} MB/s (native ${download.native_mb_per_s})`, `${download.ratio}× of native (target ${s3RatioTarget})`);
    return {
      bytes: size,
      part_bytes: settings.partBytes,
      queue_size: settings.queueSize,
      target_ratio: s3RatioTarget,
      upload,
      download,
      what: 'one object through the S3 API (lib-storage Upload; GetObject with the SDK defaults) against the same bytes through the native API (one streamed PUT; GET), both through the gateway; ratio = S3 throughput / native throughput',
    };
  } finally {
    s3.destroy();
    await cluster.stopAll();
  }
}
