import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { WalPosition } from './metrics.ts';
import {
  litestreamGeneration,
  SHADOW_WAL_FILE,
  shadowWalDirectory,
  WAL_FRAME_HEADER_BYTES,
  WAL_HEADER_BYTES,
  walHeaderSalts,
  walPageSize,
} from './on-disk.ts';

/**
 * Which of Litestream's WAL indexes holds a given SQLite WAL. Litestream 0.3.13 keeps its copy
 * of the WAL beside the database, in `.<file>-litestream/`: `generation` names the current
 * generation, and `generations/<generation>/wal/<index, 8 hex digits>.wal` are its shadow WAL
 * files, each beginning with the header of the SQLite WAL it copies. SQLite draws new salts
 * each time it starts its WAL over, so the salts in that header tie a WAL to its index
 * exactly, with no guess about when Litestream moved to the next one.
 */
export class ShadowWalIndexes {
  readonly #databasePath: string;
  #generation: string | null = null;
  #indexBySalts = new Map<string, number>();

  constructor(databasePath: string) {
    this.#databasePath = databasePath;
  }

  /** The generation Litestream writes now, or null before it has one. */
  generation(): string | null {
    return litestreamGeneration(this.#databasePath);
  }

  /**
   * Where Litestream's copy of the WAL ends: its newest shadow WAL, and the whole frames in it
   * (as Litestream computes its own position). Not the `litestream_shadow_wal_size` metric:
   * that is the total of every shadow WAL file still kept, which after a checkpoint adds the
   * previous WAL's length to the new one's. Null before Litestream has copied any WAL.
   */
  position(): WalPosition | null {
    const generation = this.generation();
    if (!generation) return null;
    const walDirectory = shadowWalDirectory(this.#databasePath, generation);
    let index = -1;
    let name = '';
    for (const entry of listing(walDirectory)) {
      const match = SHADOW_WAL_FILE.exec(entry);
      const found = Number.parseInt(match?.[1] ?? '', 16);
      if (match && found > index) [index, name] = [found, entry];
    }
    if (index < 0) return null;
    const offset = wholeFramesIn(join(walDirectory, name));
    return offset === null ? null : { index, offset };
  }

  /** The index of the WAL with these salts in `generation`, or null if Litestream has not copied it yet. */
  indexOf(generation: string, salts: string): number | null {
    if (generation !== this.#generation) {
      this.#generation = generation;
      this.#indexBySalts.clear();
    }
    if (!this.#indexBySalts.has(salts)) this.#scan(generation);
    return this.#indexBySalts.get(salts) ?? null;
  }

  /** Reads the header of every shadow WAL not seen yet (Litestream deletes old ones once shipped). */
  #scan(generation: string) {
    const walDirectory = shadowWalDirectory(this.#databasePath, generation);
    const names = listing(walDirectory);
    const known = new Set(this.#indexBySalts.values());
    for (const name of names) {
      const match = SHADOW_WAL_FILE.exec(name);
      if (!match) continue;
      const index = Number.parseInt(match[1] ?? '', 16);
      if (known.has(index)) continue;
      const salts = readSalts(join(walDirectory, name));
      if (salts) this.#indexBySalts.set(salts, index);
    }
  }
}

/** A directory's entries; none when it is not there (yet, or any more). */
function listing(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}

/** A WAL file's header (null if it is shorter than one) and size; null when it cannot be opened. */
function readHeader(path: string): { header: Buffer | null; size: number } | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    const complete = readSync(fd, header, 0, WAL_HEADER_BYTES, 0) === WAL_HEADER_BYTES;
    return { header: complete ? header : null, size: fstatSync(fd).size };
  } finally {
    closeSync(fd);
  }
}

/** The length of a shadow WAL's header and whole frames (a frame being appended is not counted). */
function wholeFramesIn(path: string): number | null {
  const read = readHeader(path);
  if (!read) return null;
  if (!read.header) return 0;
  const frameBytes = WAL_FRAME_HEADER_BYTES + walPageSize(read.header);
  return WAL_HEADER_BYTES + Math.floor((read.size - WAL_HEADER_BYTES) / frameBytes) * frameBytes;
}

function readSalts(path: string): string | null {
  const header = readHeader(path)?.header;
  return header ? walHeaderSalts(header) : null;
}
