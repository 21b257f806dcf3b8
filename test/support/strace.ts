// Records the file-system system calls of a running process with strace (Debian package
// `strace`), for tests that check the order of writes, fsyncs and renames. kill -9 keeps the page
// cache, so only the calls themselves show whether data was made durable before an answer.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from './cluster.ts';

/** Why strace cannot be used here, or null when it can. */
export function straceUnavailable(): string | null {
  const probe = spawnSync('strace', ['-V'], { encoding: 'utf8' });
  if (probe.error !== undefined) return `strace is not installed (Debian: apt-get install strace): ${probe.error.message}`;
  if (probe.status !== 0) return `strace -V failed: ${probe.stderr}`;
  return null;
}

/** One system call as strace saw it; `seq` orders calls by when they were seen. */
export interface Syscall {
  readonly pid: number;
  readonly name: string;
  /** The arguments as strace printed them, fds annotated with their paths (`-yy`). */
  readonly args: string;
  readonly result: string;
  /** Position of the call's entry among all recorded events. */
  readonly enterSeq: number;
  /** Position of its return: a call that blocked (an fsync) returns after later entries. */
  readonly exitSeq: number;
}

/** The calls worth recording for durability: opens, writes, fsyncs, renames, and reads (what arrived). */
export const tracedSyscalls = ['openat', 'read', 'write', 'writev', 'pwrite64', 'fsync', 'fdatasync', 'rename', 'renameat', 'renameat2'];
const ATTACH_TIMEOUT_MS = 30_000;

/** strace attached to every thread of one process, writing to `outputFile`. */
export class SyscallRecorder {
  readonly #child: ChildProcess;
  readonly #outputFile: string;
  #stderr = '';

  private constructor(child: ChildProcess, outputFile: string) {
    this.#child = child;
    this.#outputFile = outputFile;
    child.stderr?.on('data', (d: Buffer) => (this.#stderr += d.toString()));
  }

  /** Attaches to `pid` (all its threads: libuv's pool does the fsyncs); rejects when it cannot. */
  static async attach(pid: number, outputFile: string): Promise<SyscallRecorder> {
    const args = ['-f', '-yy', '-s', '4096', '-e', `trace=${tracedSyscalls.join(',')}`, '-o', outputFile, '-p', String(pid)];
    const recorder = new SyscallRecorder(spawn('strace', args, { stdio: ['ignore', 'ignore', 'pipe'] }), outputFile);
    const deadline = Date.now() + ATTACH_TIMEOUT_MS;
    while (!/attached/.test(recorder.#stderr)) {
      if (recorder.#child.exitCode !== null || Date.now() > deadline) {
        await recorder.stop();
        throw new Error(`strace could not attach to ${pid}: ${recorder.#stderr.trim() || 'no output'}`);
      }
      await sleep(50);
    }
    return recorder;
  }

  /** Detaches (SIGINT lets strace finish its output) and returns every recorded call. */
  async stop(): Promise<Syscall[]> {
    const child = this.#child;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      process.kill(child.pid, 'SIGINT');
      await exited;
    }
    try {
      return parseStrace(readFileSync(this.#outputFile, 'utf8'));
    } catch {
      return [];
    }
  }
}

/**
 * Parses `strace -f` output: `PID name(args) = result`, or a call split in two by other threads,
 * `PID name(args <unfinished ...>` … `PID <... name resumed>rest) = result`.
 */
export function parseStrace(text: string): Syscall[] {
  const calls: Syscall[] = [];
  const pending = new Map<number, { name: string; args: string; enterSeq: number }>();
  let seq = 0;
  for (const line of text.split('\n')) {
    const match = /^(\d+)\s+(.*)$/.exec(line);
    if (match === null) continue;
    const pid = Number(match[1]);
    const rest = match[2] as string;
    const unfinished = /^(\w+)\((.*) <unfinished \.\.\.>$/.exec(rest);
    if (unfinished !== null) {
      pending.set(pid, { name: unfinished[1] as string, args: unfinished[2] as string, enterSeq: seq++ });
      continue;
    }
    const resumed = /^<\.\.\. (\w+) resumed>(.*)\)\s+= (.*)$/.exec(rest);
    if (resumed !== null) {
      const start = pending.get(pid);
      pending.delete(pid);
      if (start === undefined) continue;
      calls.push({ pid, name: start.name, args: start.args + (resumed[2] as string), result: resumed[3] as string, enterSeq: start.enterSeq, exitSeq: seq++ });
      continue;
    }
    const whole = /^(\w+)\((.*)\)\s+= (.*)$/.exec(rest);
    if (whole !== null) {
      const at = seq++;
      calls.push({ pid, name: whole[1] as string, args: whole[2] as string, result: whole[3] as string, enterSeq: at, exitSeq: at });
    }
  }
  return calls.sort((a, b) => a.enterSeq - b.enterSeq);
}

/** The path strace shows for a call's first argument (`-yy`: `12</a/b>`), or ''. */
export function fdPath(call: Syscall): string {
  return /^\d+<([^>]*)>/.exec(call.args)?.[1] ?? '';
}

/** Short form of a call for failure messages. */
export function describeCall(call: Syscall): string {
  return `#${call.enterSeq}-${call.exitSeq} [${call.pid}] ${call.name}(${call.args.slice(0, 160)}) = ${call.result}`;
}
