import { SQLiteDialect } from 'drizzle-orm/sqlite-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Viewer } from '../../src/auth.ts';
import { type NodeState, standalonePrimary } from '../../src/context.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { addComment, deleteComment, updateComment } from '../../src/services/comments.ts';
import { createReview, deleteReview, updateReview } from '../../src/services/reviews.ts';
import { runWrite } from '../../src/services/write.ts';
import { aReview, snapshot } from '../support/fixtures.ts';

const alice: Viewer = { id: 'alice', name: 'Alice', roles: [] };

function freshDatabase() {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  return db;
}

type Db = ReturnType<typeof freshDatabase>;

/** One of every mutation, with and without an idempotency key: every write statement runs. */
function everyMutation(db: Db, n: number) {
  const ctx = { db, viewer: alice, node: standalonePrimary };
  const reviewId = runWrite(ctx, (db, viewer, now) =>
    createReview(db, viewer, now, { subject: `s-${n}`, rating: 3, title: 't', body: 'b', idempotencyKey: `r-${n}` }),
  );
  runWrite(ctx, (db, viewer, now) => updateReview(db, viewer, now, { id: reviewId, rating: 5, expectedVersion: 1 }));
  const commentId = runWrite(ctx, (db, viewer, now) => addComment(db, viewer, now, { reviewId, body: 'c' }));
  runWrite(ctx, (db, viewer, now) => addComment(db, viewer, now, { reviewId, body: 'k', idempotencyKey: `c-${n}` }));
  runWrite(ctx, (db, viewer, now) => updateComment(db, viewer, now, { id: commentId, body: 'd' }));
  runWrite(ctx, (db, viewer) => deleteComment(db, viewer, { id: commentId }));
  runWrite(ctx, (db, viewer) => deleteReview(db, viewer, { id: reviewId, expectedVersion: 2 }));
}

/** Counts what a write would cost before it runs: SQLite preparing, Drizzle building SQL. */
function watchQueryBuilding(db: Db) {
  return { prepare: vi.spyOn(db.$client, 'prepare'), buildSql: vi.spyOn(SQLiteDialect.prototype, 'sqlToQuery') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('write statements', () => {
  it('are prepared once: later mutations neither build SQL nor prepare a statement', () => {
    const db = freshDatabase();
    everyMutation(db, 0);
    const { prepare, buildSql } = watchQueryBuilding(db);
    for (let n = 1; n <= 20; n++) everyMutation(db, n);
    expect(prepare).not.toHaveBeenCalled();
    expect(buildSql).not.toHaveBeenCalled();
    // The mutations did write: each left a user row and consumed its keys.
    expect(snapshot(db)).toMatchObject({ users: [{ id: 'alice' }], reviews: [], comments: [] });
  });

  it('run inside the IMMEDIATE transaction: a refusal after the user upsert leaves nothing written', () => {
    const db = freshDatabase();
    const ctx = { db, viewer: alice, node: standalonePrimary };
    const review = aReview(db);
    runWrite(ctx, (db, viewer, now) => addComment(db, viewer, now, { reviewId: review.id, body: 'warm' }));
    const before = snapshot(db);
    const newcomer = { ...ctx, viewer: { id: 'newcomer', name: 'New', roles: [] } };
    expect(() =>
      runWrite(newcomer, (db, viewer, now) => addComment(db, viewer, now, { reviewId: 999, body: 'x' })),
    ).toThrow('Review not found');
    expect(snapshot(db)).toEqual(before);
  });

  it('are not prepared on a node that may not write', () => {
    const db = freshDatabase();
    const standby: NodeState = { whyReadOnly: () => 'standby', describe: () => ({ role: 'standby' }) };
    const { prepare, buildSql } = watchQueryBuilding(db);
    expect(() =>
      runWrite({ db, viewer: alice, node: standby }, (db, viewer, now) =>
        addComment(db, viewer, now, { reviewId: 1, body: 'x' }),
      ),
    ).toThrow('does not accept writes');
    expect(prepare).not.toHaveBeenCalled();
    expect(buildSql).not.toHaveBeenCalled();
  });

  it("keep the author's user row as the token names them, rewriting it only when the name changes", () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] });
    try {
      const db = freshDatabase();
      const review = aReview(db);
      const write = (viewer: Viewer) =>
        runWrite({ db, viewer, node: standalonePrimary }, (db, viewer, now) =>
          addComment(db, viewer, now, { reviewId: review.id, body: 'hi' }),
        );
      const row = () => snapshot(db).users.find((user) => user.id === 'alice');
      write(alice);
      expect(row()).toMatchObject({ name: 'Alice', createdAt: 1_000_000, updatedAt: 1_000_000 });
      // The same name later: the row (and so its page in the WAL and the replica) is left alone.
      vi.setSystemTime(2_000_000);
      const changes = db.$client.prepare('select total_changes() as n').pluck();
      const before = changes.get() as number;
      write(alice);
      expect(row()).toMatchObject({ name: 'Alice', updatedAt: 1_000_000 });
      expect((changes.get() as number) - before).toBe(1);
      vi.setSystemTime(3_000_000);
      write({ ...alice, name: 'Alice B.' });
      expect(row()).toMatchObject({ name: 'Alice B.', createdAt: 1_000_000, updatedAt: 3_000_000 });
    } finally {
      vi.useRealTimers();
    }
  });
});
