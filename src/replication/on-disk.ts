import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * What this service reads of two on-disk formats, in one place: SQLite's WAL
 * (https://www.sqlite.org/fileformat.html#the_write_ahead_log) and the state Litestream 0.3.13
 * keeps beside a database it replicates.
 */
export const WAL_HEADER_BYTES = 32;
export const WAL_FRAME_HEADER_BYTES = 24;

/** The page size a WAL header records (0 stands for 65536). */
export const walPageSize = (header: Buffer) => header.readUInt32BE(8) || 65536;

/** The salts in a WAL header (or a Litestream shadow WAL's, which copies it), as hex. */
export const walHeaderSalts = (header: Buffer) => header.subarray(16, 24).toString('hex');

/** The salts a WAL frame header carries: a frame of the current WAL carries its header's. */
export const walFrameSalts = (frame: Buffer) => frame.subarray(8, 16).toString('hex');

/** Litestream keeps its state for `dir/name.db` in `dir/.name.db-litestream`. */
export const litestreamStateDirectory = (databasePath: string) =>
  join(dirname(databasePath), `.${basename(databasePath)}-litestream`);

/** The generation Litestream last replicated this file as (its `generation` file), if any. */
export function litestreamGeneration(databasePath: string): string | null {
  try {
    return readFileSync(join(litestreamStateDirectory(databasePath), 'generation'), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Where a generation's shadow WAL files are: `<index, 8 hex digits>.wal`. */
export const shadowWalDirectory = (databasePath: string, generation: string) =>
  join(litestreamStateDirectory(databasePath), 'generations', generation, 'wal');
export const SHADOW_WAL_FILE = /^([0-9a-f]{8})\.wal$/;
