// How our two programs are started by everything that starts them (npm start, the test
// clusters, the chaos suite, the benchmark): bundled by esbuild into one JavaScript file each
// and run by plain node. Under tsx every module goes through its loader, whose thread and caches
// cost each process about 35 MB at rest (a node idled at 124 MB under tsx, 87 MB built), and
// the memory targets are per process. Building takes about a second, and happens only when a
// source file is newer than its bundle.
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

export type Program = 'storage-node' | 'gateway';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** Entry points and their bundles, relative to the repository root. */
const bundles: Readonly<Record<Program, readonly { readonly entry: string; readonly out: string }[]>> = {
  'storage-node': [
    { entry: 'storage-node/src/main.ts', out: 'storage-node/build/main.mjs' },
    // storage-node/src/paths.ts finds the workers beside main.mjs.
    { entry: 'storage-node/src/metadata/snapshot-worker.ts', out: 'storage-node/build/snapshot-worker.mjs' },
    { entry: 'storage-node/src/db/wal-checkpoint-worker.mjs', out: 'storage-node/build/wal-checkpoint-worker.mjs' },
  ],
  gateway: [{ entry: 'gateway/src/main.ts', out: 'gateway/build/main.mjs' }],
};

/** What the bundles are made of (dependencies stay outside them, loaded from node_modules). */
const sourceDirs = ['storage-node/src', 'gateway/src', 'shared'];

function newestMtimeMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function mtimeMsOrZero(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Rebuilds every bundle when one is missing or older than a source file. */
export function ensureBuilt(): void {
  const all = Object.values(bundles).flat();
  const oldestBundle = Math.min(...all.map((b) => mtimeMsOrZero(join(repoRoot, b.out))));
  const newestSource = Math.max(...sourceDirs.map((dir) => newestMtimeMs(join(repoRoot, dir))));
  if (oldestBundle > newestSource) return;
  for (const { entry, out } of all) build(entry, out);
}

function build(entry: string, out: string): void {
  const result = buildSync({
    absWorkingDir: repoRoot,
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
    write: false,
  });
  // Test files run in parallel processes that may all build at once: each writes its own
  // temporary files and renames them into place, the map before the code that points to it.
  const files = [...result.outputFiles].sort((a, b) => Number(b.path.endsWith('.map')) - Number(a.path.endsWith('.map')));
  for (const file of files) {
    mkdirSync(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.tmp`;
    writeFileSync(temporary, file.contents);
    renameSync(temporary, file.path);
  }
  if (files.length === 0) throw new Error(`esbuild produced nothing for ${relative(repoRoot, entry)}`);
}

/** The arguments for `node` (process.execPath) that start `program`, built first if needed. */
export function programArgs(program: Program): string[] {
  ensureBuilt();
  // Source maps are written beside each bundle but not loaded: that costs a node about 6 MB.
  // NODE_OPTIONS=--enable-source-maps makes stack traces name the TypeScript files and lines.
  return [bundles[program][0].out];
}
