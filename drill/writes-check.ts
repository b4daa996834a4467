import Database from 'better-sqlite3';
import type { WriteRecord } from './load.ts';

export interface WritesVerdict {
  acknowledged: number;
  /** Acknowledged writes the final database does not have: the recovery point, in writes. */
  missing: WriteRecord[];
  /** Keys found more than once: a retry that wrote twice. */
  duplicated: { key: string; copies: number }[];
  /** Writes never acknowledged (timed out, given up) that did land: allowed, and counted. */
  unacknowledgedPresent: number;
}

/**
 * Checks the drill's writes against a final database file: every acknowledged key must be
 * there, and no key more than once. Reviews carry the key as their subject, comments as body.
 */
export function checkWrites(databasePath: string, writes: WriteRecord[], runId: string): WritesVerdict {
  const db = new Database(databasePath, { readonly: true });
  try {
    const prefix = `drill-${runId}-%`;
    const rows = [
      ...db
        .prepare('select subject as key, count(*) as copies from reviews where subject like ? group by subject')
        .all(prefix),
      ...db.prepare('select body as key, count(*) as copies from comments where body like ? group by body').all(prefix),
    ] as { key: string; copies: number }[];
    const found = new Map(rows.map((row) => [row.key, row.copies]));
    const acknowledged = writes.filter((write) => write.outcome === 'acknowledged');
    return {
      acknowledged: acknowledged.length,
      missing: acknowledged.filter((write) => !found.has(write.key)),
      duplicated: rows.filter((row) => row.copies > 1),
      unacknowledgedPresent: writes.filter((write) => write.outcome !== 'acknowledged' && found.has(write.key)).length,
    };
  } finally {
    db.close();
  }
}
