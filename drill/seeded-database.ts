import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedDatabaseOfSize } from '../bench/dataset.ts';

/**
 * Bump when seedDatabaseOfSize (bench/dataset.ts) or the migrations change what it writes: a
 * cached file from an older generator would otherwise be reused.
 */
const GENERATOR_VERSION = 1;

/** Seeded databases are kept here (git-ignored), keyed by size and generator version. */
const CACHE_DIR = fileURLToPath(new URL('../.tmp/drill-datasets/', import.meta.url));

const UNITS = { KB: 1e3, MB: 1e6, GB: 1e9 } as const;

/** `10MB`, `100MB`, `1GB`, `1.5GB` (decimal units, as disks are sold) → bytes. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(KB|MB|GB)$/i.exec(text.trim());
  if (!match) throw new Error(`not a size: "${text}" (use e.g. 10MB, 100MB, 1GB)`);
  const bytes = Number(match[1]) * UNITS[(match[2] as string).toUpperCase() as keyof typeof UNITS];
  if (bytes < 1e6) throw new Error(`a database of at least 1MB, not ${text}`);
  return Math.round(bytes);
}

export interface SeededDatabase {
  path: string;
  bytes: number;
  /** How long seeding took now, or null when the cached file was reused. */
  seededMs: number | null;
}

/**
 * A database of at least `bytes` from the bench's generator, seeded once and reused: at 1 GB
 * seeding takes minutes, a copy seconds. Seeded under a temporary name and renamed, so an
 * interrupted seed is never mistaken for a finished one.
 */
export function seededDatabase(bytes: number, onProgress?: (bytes: number) => void): SeededDatabase {
  mkdirSync(CACHE_DIR, { recursive: true });
  const path = join(CACHE_DIR, `v${GENERATOR_VERSION}-${bytes}.db`);
  if (existsSync(path)) return { path, bytes: statSync(path).size, seededMs: null };
  const partial = `${path}.${process.pid}.partial`;
  const startedAt = performance.now();
  try {
    seedDatabaseOfSize(partial, bytes, onProgress);
    renameSync(partial, path);
  } finally {
    for (const file of [partial, `${partial}-wal`, `${partial}-shm`]) rmSync(file, { force: true });
  }
  return { path, bytes: statSync(path).size, seededMs: Math.round(performance.now() - startedAt) };
}

/** Copies a seeded database to where a node opens it (never the cached file itself). */
export function copySeeded(seeded: SeededDatabase, databasePath: string): void {
  copyFileSync(seeded.path, resolve(databasePath));
}
