import { createHash } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import type { Viewer } from '../auth.ts';
import type { Context } from '../context.ts';
import type { Db } from '../db/client.ts';
import { idempotencyKeys, users } from '../db/schema.ts';
import { clientError, ErrorCode, refusal } from '../errors.ts';
import { preparedPerDatabase } from './statements.ts';

/** How long an idempotency key is remembered: longer than any client retries a request. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

const statements = preparedPerDatabase((db) => ({
  upsertUser: db
    .insert(users)
    .values({
      id: sql.placeholder('id'),
      name: sql.placeholder('name'),
      createdAt: sql.placeholder('now'),
      updatedAt: sql.placeholder('now'),
    })
    // Only a new name changes the row: rewriting an unchanged one would put its page in the WAL
    // (and Litestream's replica) on every write the user makes.
    .onConflictDoUpdate({
      target: users.id,
      set: { name: sql.placeholder('name'), updatedAt: sql.placeholder('now') },
      setWhere: sql`${users.name} is not excluded.name`,
    })
    .prepare(),
  findKey: db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.userId, sql.placeholder('userId')), eq(idempotencyKeys.key, sql.placeholder('key'))))
    .prepare(),
  expireKeys: db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.userId, sql.placeholder('userId')),
        lt(idempotencyKeys.createdAt, sql.placeholder('before')),
      ),
    )
    .prepare(),
  recordKey: db
    .insert(idempotencyKeys)
    .values({
      userId: sql.placeholder('userId'),
      key: sql.placeholder('key'),
      operation: sql.placeholder('operation'),
      requestHash: sql.placeholder('requestHash'),
      resultId: sql.placeholder('resultId'),
      createdAt: sql.placeholder('now'),
    })
    .onConflictDoUpdate({
      target: [idempotencyKeys.userId, idempotencyKeys.key],
      set: {
        operation: sql.placeholder('operation'),
        requestHash: sql.placeholder('requestHash'),
        resultId: sql.placeholder('resultId'),
        createdAt: sql.placeholder('now'),
      },
    })
    .prepare(),
}));

/**
 * better-sqlite3's BEGIN IMMEDIATE … COMMIT (ROLLBACK when `run` throws), built once per handle:
 * Drizzle's `transaction()` wraps a new function and transaction object on every call.
 */
const immediately = preparedPerDatabase((db) => db.$client.transaction((run: () => number) => run()).immediate);

/**
 * The one way a mutation writes: refused on a node that may not write, run in an IMMEDIATE
 * transaction (so a check and the write it guards see the same rows), with the author's
 * user row kept current from the token. `write` runs its statements on `db` inside that
 * transaction. Returns the id of the row written.
 */
export function runWrite(
  ctx: Pick<Context, 'db' | 'viewer' | 'node' | 'committed'>,
  write: (db: Db, viewer: Viewer, now: number) => number,
): number {
  const viewer = ctx.viewer;
  if (!viewer) throw clientError(ErrorCode.UNAUTHENTICATED, 'Not signed in');
  const readOnly = ctx.node.whyReadOnly();
  if (readOnly) {
    // HTTP 503: nothing was written, so a load balancer may retry the request on another node.
    throw refusal(ErrorCode.READ_ONLY, `This node does not accept writes now: ${readOnly}`);
  }
  const { db } = ctx;
  const id = immediately(db)(() => {
    const now = Date.now();
    statements(db).upsertUser.run({ id: viewer.id, name: viewer.name, now });
    return write(db, viewer, now);
  });
  ctx.committed?.();
  return id;
}

interface IdempotentWrite {
  operation: string;
  key: string | null | undefined;
  /** The normalized request: a key reused with a different one is refused. */
  request: unknown;
  write: () => number;
}

/** Runs `write` once per (user, key); a repeat returns the first result's id. */
export function idempotent(db: Db, viewer: Viewer, now: number, { operation, key, request, write }: IdempotentWrite) {
  if (!key) return write();
  const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  const { findKey, expireKeys, recordKey } = statements(db);
  const prior = findKey.get({ userId: viewer.id, key });
  if (prior && prior.createdAt > now - IDEMPOTENCY_TTL_MS) {
    if (prior.operation !== operation || prior.requestHash !== requestHash) {
      throw clientError(ErrorCode.CONFLICT, 'idempotencyKey was already used for a different request');
    }
    return prior.resultId;
  }
  const resultId = write();
  expireKeys.run({ userId: viewer.id, before: now - IDEMPOTENCY_TTL_MS });
  recordKey.run({ userId: viewer.id, key, operation, requestHash, resultId, now });
  return resultId;
}

interface Owned {
  authorId: string;
  version: number;
}

/**
 * The ownership and version rules every update and delete share. Only the author changes a
 * row; a moderator may also delete it. A stale `expectedVersion` is a conflict.
 */
export function assertMayChange<T extends Owned>(
  row: T | undefined,
  viewer: Viewer,
  { what, expectedVersion, moderatorMay }: { what: string; expectedVersion?: number | null; moderatorMay: boolean },
): asserts row is T {
  if (!row) throw clientError(ErrorCode.NOT_FOUND, `${what} not found`);
  const isModerator = viewer.roles.includes('moderator');
  if (row.authorId !== viewer.id && !(moderatorMay && isModerator)) {
    throw clientError(ErrorCode.FORBIDDEN, `Only the author may change this ${what.toLowerCase()}`);
  }
  if (expectedVersion != null && expectedVersion !== row.version) {
    throw clientError(ErrorCode.CONFLICT, `${what} is at version ${row.version}, not ${expectedVersion}`, {
      currentVersion: row.version,
    });
  }
}
