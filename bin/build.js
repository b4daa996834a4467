#!/usr/bin/env node
// Compiles src/**/*.ts to dist/**/*.js, one file each (no bundling: better-sqlite3 is native,
// some modules are imported lazily, and src/db/migrate.ts and src/replication/settings.ts find
// drizzle/ and litestream.yml by their own path, which dist/ keeps at the same depth as src/).
// The server runs the compiled files because tsx, compiling on load, cost ~55 MB of resident
// memory (a second V8 isolate for its loader thread, esbuild kept running) and ~1 s of start-up.
//
// `node bin/build.js` builds (npm install and npm pack run it as `prepare`);
// bin/reviews-api.js calls ensureBuilt() on every start, which rebuilds only when the sources
// changed since the last build, so nothing runs a stale dist/. esbuild is a devDependency: a
// production install (`npm prune --omit=dev` after the build, or a packed tarball) runs dist/
// without it, and only a build that is actually needed asks for it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');
export const DIST = join(ROOT, 'dist');
/** What the last build compiled: the fingerprint of the sources it read. */
const STAMP = join(DIST, '.sources-fingerprint');

/** Every .ts file under a directory, sorted so the fingerprint does not depend on readdir order. */
function sourcesIn(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
}

/**
 * Path, size and mtime of every source and of this file (a change to how we build is a change
 * too). A deleted or renamed source changes it as well as an edited one.
 */
function fingerprint(sources) {
  const hash = createHash('sha256');
  for (const file of [...sources, fileURLToPath(import.meta.url)]) {
    const { size, mtimeMs } = statSync(file);
    hash.update(`${relative(ROOT, file)}\t${size}\t${mtimeMs}\n`);
  }
  return hash.digest('hex');
}

function readStamp() {
  try {
    return readFileSync(STAMP, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Writes through a temporary file and a rename: several processes may build at once (test
 * files starting servers in parallel), and none may import a half-written module.
 */
function writeAtomically(path, contents) {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

/** Relative imports of `./x.ts` become `./x.js`; every import stays an import (nothing bundled). */
const keepImports = {
  name: 'keep-imports',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const path = args.path.startsWith('.') ? args.path.replace(/\.ts$/, '.js') : args.path;
      return { path, external: true };
    });
  },
};

/** esbuild, loaded only when a build is needed; null where it is not installed. */
async function loadEsbuild() {
  try {
    return await import('esbuild');
  } catch (error) {
    if (error.code === 'ERR_MODULE_NOT_FOUND') return null;
    throw error;
  }
}

async function compile(sources, stale) {
  const esbuild = await loadEsbuild();
  if (!esbuild) {
    throw new Error(
      `dist/ is ${stale ? 'older than src/' : 'missing'} and esbuild (a devDependency) is not installed: build where it is (npm run build), then drop the devDependencies (npm prune --omit=dev)`,
    );
  }
  const { outputFiles } = await esbuild.build({
    entryPoints: sources,
    outbase: SRC,
    outdir: DIST,
    // Bundling only so that keepImports sees every import; it marks each one external.
    bundle: true,
    plugins: [keepImports],
    platform: 'node',
    format: 'esm',
    target: 'node20',
    charset: 'utf8',
    // Linked maps cost nothing at run time; `node --enable-source-maps` uses them when debugging.
    sourcemap: 'linked',
    write: false,
    logLevel: 'warning',
  });
  for (const file of outputFiles) writeAtomically(file.path, file.contents);
}

/** Builds dist/ unless it already holds the current sources. */
export async function ensureBuilt() {
  // A packed tarball ships dist/ alone: there is nothing to be stale against.
  if (!existsSync(SRC)) return;
  const sources = sourcesIn(SRC);
  const current = fingerprint(sources);
  const stamp = readStamp();
  if (stamp === current) return;
  await compile(sources, stamp !== null);
  // Last, so a build that failed half-way is done again by the next start.
  writeAtomically(STAMP, current);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await ensureBuilt();
