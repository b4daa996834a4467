import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

import { WAL_FRAME_HEADER_BYTES, WAL_HEADER_BYTES, walFrameSalts, walHeaderSalts, walPageSize } from './on-disk.ts';

/** Where a WAL's committed frames end; `salts` (hex, empty without a WAL) tell one WAL from the next. */
export interface WalEnd {
  salts: string;
  offset: number;
}

/**
 * Where SQLite's WAL ends: the byte just past the last committed frame of the current WAL
 * (https://www.sqlite.org/fileformat.html#the_write_ahead_log). Frames from an earlier cycle of
 * the file carry other salts and do not count. Reads incrementally: each call only looks at
 * frames written since the last one.
 */
export class WalReader {
  readonly walPath: string;
  #salts = '';
  #scannedTo = WAL_HEADER_BYTES;
  #committedEnd = 0;

  constructor(databasePath: string) {
    this.walPath = `${databasePath}-wal`;
  }

  /** Bytes of committed WAL (0 when there is no WAL). */
  committedBytes(): number {
    return this.committedEnd().offset;
  }

  /**
   * The end of the committed WAL and the salts of the WAL it is in: SQLite draws new salts
   * each time it starts the WAL over, so (salts, offset) names a position across restarts.
   */
  committedEnd(): WalEnd {
    let fd: number;
    try {
      fd = openSync(this.walPath, 'r');
    } catch {
      return this.#reset('');
    }
    try {
      const size = fstatSync(fd).size;
      if (size < WAL_HEADER_BYTES) return this.#reset('');
      const header = Buffer.alloc(WAL_HEADER_BYTES);
      readSync(fd, header, 0, WAL_HEADER_BYTES, 0);
      const pageSize = walPageSize(header);
      const salts = walHeaderSalts(header);
      if (salts !== this.#salts) this.#reset(salts);
      const frame = Buffer.alloc(WAL_FRAME_HEADER_BYTES);
      const frameBytes = WAL_FRAME_HEADER_BYTES + pageSize;
      let offset = this.#scannedTo;
      while (offset + frameBytes <= size) {
        readSync(fd, frame, 0, WAL_FRAME_HEADER_BYTES, offset);
        if (walFrameSalts(frame) !== salts) break;
        offset += frameBytes;
        // A commit frame records the database size after the commit; other frames record 0.
        if (frame.readUInt32BE(4) !== 0) this.#committedEnd = offset;
      }
      // Frames past the last commit may be a transaction still being written: read them again.
      this.#scannedTo = Math.max(this.#committedEnd, WAL_HEADER_BYTES);
      return { salts, offset: this.#committedEnd };
    } finally {
      closeSync(fd);
    }
  }

  #reset(salts: string): WalEnd {
    this.#salts = salts;
    this.#scannedTo = WAL_HEADER_BYTES;
    this.#committedEnd = 0;
    return { salts, offset: 0 };
  }
}
