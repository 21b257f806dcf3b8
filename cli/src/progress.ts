// A progress bar (bytes, rate, time left) on stderr for large transfers, drawn by cli-progress.
// Shown only when stderr is a terminal, so scripts and --json output never see it.
import { Transform } from 'node:stream';
import { onInterrupt } from './interrupt.ts';
import { formatBytes } from './output.ts';

/** Transfers smaller than this get no bar: they finish before it would be read. */
export const progressMinBytes = 8 * 1024 * 1024;
/** How often the bar is redrawn, ms. */
const redrawIntervalMs = 200;

export interface Meter {
  /** Pass the bytes through this to count them. */
  readonly stream: Transform;
  /** Bytes that went through so far. */
  bytes(): number;
  /** Removes the bar (call on success and on failure). */
  stop(): void;
}

/** A counting pass-through, with a bar when `show` and the size is known and large. */
export async function meter(label: string, totalBytes: number | null, show: boolean): Promise<Meter> {
  let bytes = 0;
  const startedMs = Date.now();
  const visible = show && process.stderr.isTTY === true && totalBytes !== null && totalBytes >= progressMinBytes;
  // Loaded only when drawn: most runs need no bar, and every run pays for what it imports.
  const cliProgress = visible ? (await import('cli-progress')).default : null;
  const bar = cliProgress !== null
    ? new cliProgress.SingleBar({
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {done} / {total_h} | {rate}/s | {eta_formatted} left`,
        fps: 1000 / redrawIntervalMs,
        hideCursor: true,
        clearOnComplete: false,
      }, cliProgress.Presets.shades_classic)
    : null;
  const payload = () => {
    const seconds = Math.max(0.001, (Date.now() - startedMs) / 1000);
    return { done: formatBytes(bytes), total_h: formatBytes(totalBytes ?? 0), rate: formatBytes(Math.round(bytes / seconds)) };
  };
  bar?.start(totalBytes ?? 0, 0, payload());
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      bar?.update(bytes, payload());
      callback(null, chunk);
    },
  });
  let stopped = false;
  // Ctrl-C mid-transfer: the bar is taken down so the terminal gets its cursor back.
  const forget = onInterrupt(() => bar?.stop());
  return {
    stream,
    bytes: () => bytes,
    stop: () => {
      if (stopped) return;
      stopped = true;
      forget();
      bar?.update(bytes, payload());
      bar?.stop();
    },
  };
}
