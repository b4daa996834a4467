import { open } from 'node:fs/promises';
import { endianness } from 'node:os';
import { WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES, walPageSize } from './on-disk.ts';

/** WAL bytes SQLite itself would not take: a header that is none, a frame whose salts or checksum fail. */
export class WalFormatError extends Error {
  override name = 'WalFormatError';
}

/** One frame: page `pgno` as a transaction left it; on a commit frame, the database's size in pages after it. */
export interface WalFrame {
  pgno: number;
  commitPages: number;
  page: Buffer;
}

/** A WAL header's magic: its checksums read words big-endian, or little-endian. */
const BIG_ENDIAN_MAGIC = 0x377f0683;
const LITTLE_ENDIAN_MAGIC = 0x377f0682;

const NATIVE_BIG_ENDIAN = endianness() === 'BE';

/**
 * SQLite's WAL checksum (https://www.sqlite.org/fileformat.html#checksum_algorithm): over pairs
 * of 32-bit words, chained from `s0`, `s1`. A WAL written on a host of this one's byte order
 * (every one, in practice) is read as it lies in memory, three times faster.
 */
function walChecksum(data: Buffer, bigEndian: boolean, s0: number, s1: number): [number, number] {
  if (bigEndian === NATIVE_BIG_ENDIAN && data.byteOffset % 4 === 0) {
    const words = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    for (let at = 0; at < words.length; at += 2) {
      s0 = (s0 + (words[at] as number) + s1) >>> 0;
      s1 = (s1 + (words[at + 1] as number) + s0) >>> 0;
    }
    return [s0, s1];
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = !bigEndian;
  for (let at = 0; at < data.byteLength; at += 8) {
    s0 = (s0 + view.getUint32(at, little) + s1) >>> 0;
    s1 = (s1 + view.getUint32(at + 4, little) + s0) >>> 0;
  }
  return [s0, s1];
}

/**
 * One WAL file from its header on, as its bytes arrive (in whole frames), checked as SQLite
 * checks a WAL it opens: the header's magic and checksum, then each frame's salts and its
 * checksum, chained from the frame before. Where SQLite would stop reading at a frame that
 * fails, this throws: Litestream ships only frames SQLite wrote, so a failing one is damage.
 * Only frames up to the last commit frame are ever handed out: never half a transaction.
 */
export class WalFrames {
  pageSize = 0;
  /** The WAL's length so far, in bytes. */
  bytes = 0;
  /** Where the last commit frame read so far ends (0 before one). */
  committedBytes = 0;
  readonly #frames: WalFrame[] = [];
  #bigEndian = false;
  #salts = Buffer.alloc(0);
  #checksum: [number, number] = [0, 0];

  #frameBytes() {
    return WAL_FRAME_HEADER_BYTES + this.pageSize;
  }

  /** The next bytes of the WAL: its header first, then whole frames. */
  append(bytes: Buffer): void {
    let at = 0;
    if (this.bytes === 0) {
      this.#readHeader(bytes);
      at = WAL_HEADER_BYTES;
    }
    const frameBytes = this.#frameBytes();
    if ((bytes.length - at) % frameBytes !== 0) {
      throw new WalFormatError(`WAL bytes ${this.bytes}+${bytes.length} end inside a frame`);
    }
    for (; at < bytes.length; at += frameBytes) {
      const header = bytes.subarray(at, at + WAL_FRAME_HEADER_BYTES);
      const page = bytes.subarray(at + WAL_FRAME_HEADER_BYTES, at + frameBytes);
      const offset = this.bytes + at;
      if (!header.subarray(8, 16).equals(this.#salts)) {
        throw new WalFormatError(`the WAL frame at byte ${offset} belongs to another WAL (its salts differ)`);
      }
      let checksum = walChecksum(header.subarray(0, 8), this.#bigEndian, ...this.#checksum);
      checksum = walChecksum(page, this.#bigEndian, ...checksum);
      if (checksum[0] !== header.readUInt32BE(16) || checksum[1] !== header.readUInt32BE(20)) {
        throw new WalFormatError(`the WAL frame at byte ${offset} fails its checksum`);
      }
      this.#checksum = checksum;
      const frame = { pgno: header.readUInt32BE(0), commitPages: header.readUInt32BE(4), page };
      this.#frames.push(frame);
      if (frame.commitPages > 0) this.committedBytes = offset + frameBytes;
    }
    this.bytes += bytes.length;
  }

  /** The committed frames from the one at byte `offset` on (0: from the first). */
  committedFrom(offset: number): WalFrame[] {
    const frameBytes = this.#frameBytes();
    const first = Math.max(0, offset - WAL_HEADER_BYTES) / frameBytes;
    if (!Number.isInteger(first)) throw new WalFormatError(`byte ${offset} is no frame boundary of the WAL`);
    return this.#frames.slice(first, Math.max(first, (this.committedBytes - WAL_HEADER_BYTES) / frameBytes));
  }

  #readHeader(bytes: Buffer) {
    if (bytes.length < WAL_HEADER_BYTES) throw new WalFormatError('the WAL begins with no whole header');
    const magic = bytes.readUInt32BE(0);
    if (magic !== BIG_ENDIAN_MAGIC && magic !== LITTLE_ENDIAN_MAGIC) {
      throw new WalFormatError(`the WAL begins with no WAL header (magic ${magic.toString(16)})`);
    }
    this.#bigEndian = magic === BIG_ENDIAN_MAGIC;
    const checksum = walChecksum(bytes.subarray(0, 24), this.#bigEndian, 0, 0);
    if (checksum[0] !== bytes.readUInt32BE(24) || checksum[1] !== bytes.readUInt32BE(28)) {
      throw new WalFormatError('the WAL header fails its checksum');
    }
    this.pageSize = walPageSize(bytes);
    this.#salts = Buffer.from(bytes.subarray(16, 24));
    this.#checksum = checksum;
  }
}

/**
 * Writes `frames` (committed, in WAL order) into the database file at `path` as a checkpoint
 * would: the newest version of each page at its place, the file cut or grown to the size the
 * last commit records. Not synced: see syncFile. Nothing may have the file open meanwhile.
 */
export async function writeFrames(path: string, frames: readonly WalFrame[], pageSize: number): Promise<void> {
  const last = frames.at(-1);
  if (!last) return;
  const newest = new Map<number, Buffer>();
  for (const { pgno, page } of frames) if (pgno <= last.commitPages) newest.set(pgno, page);
  const pgnos = [...newest.keys()].sort((a, b) => a - b);
  const file = await open(path, 'r+');
  try {
    // Runs of neighbouring pages in one write each, all at once.
    const writes: Promise<unknown>[] = [];
    for (let start = 0; start < pgnos.length; ) {
      let end = start + 1;
      while (end < pgnos.length && pgnos[end] === (pgnos[end - 1] as number) + 1) end++;
      const run = pgnos.slice(start, end).map((pgno) => newest.get(pgno) as Buffer);
      writes.push(file.writev(run, ((pgnos[start] as number) - 1) * pageSize));
      start = end;
    }
    await Promise.all(writes);
    await file.truncate(last.commitPages * pageSize);
  } finally {
    await file.close();
  }
}

/** Everything written into the file at `path` on disk, before a database is opened on it to write. */
export async function syncFile(path: string): Promise<void> {
  const file = await open(path, 'r+');
  try {
    await file.datasync();
  } finally {
    await file.close();
  }
}
