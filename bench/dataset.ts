import { statSync } from 'node:fs';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';

/** How much data a run seeds. The default is the "realistic" dataset. */
export interface DatasetSize {
  users: number;
  subjects: number;
  reviews: number;
  comments: number;
}

export const DATASETS = {
  default: { users: 1_000, subjects: 500, reviews: 10_000, comments: 100_000 },
  small: { users: 200, subjects: 50, reviews: 1_000, comments: 10_000 },
  tiny: { users: 20, subjects: 5, reviews: 100, comments: 500 },
} as const satisfies Record<string, DatasetSize>;

export type DatasetName = keyof typeof DATASETS;

/** The first review's creation time; every row is spaced a second apart from there. */
const EPOCH_MS = Date.UTC(2025, 0, 1);

/** A deterministic generator (mulberry32), so every run seeds the same rows. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'crema grind shot bean roast bitter smooth loud quiet sturdy flimsy value price steam wand milk ' +
  'froth brew pressure boiler warm cold fast slow clean descale filter basket tamper portafilter ' +
  'great good fine poor awful lovely solid broken returned daily morning kitchen counter'
).split(' ');

function sentence(next: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(WORDS[Math.floor(next() * WORDS.length)] as string);
  const text = out.join(' ');
  return `${text.charAt(0).toUpperCase()}${text.slice(1)}.`;
}

export const userId = (n: number) => `user-${n}`;
export const subjectName = (n: number) => `product-${n}`;

/**
 * Seeds `path` (a new file) with migrations applied and the given number of rows, in one
 * transaction through prepared statements: the fastest way better-sqlite3 writes.
 * Each subject has reviews by distinct users, since one user reviews a subject once.
 */
export function seedDatabase(path: string, size: DatasetSize, onProgress?: (done: number, total: number) => void) {
  const perSubject = Math.ceil(size.reviews / size.subjects);
  if (perSubject > size.users) throw new Error(`${size.reviews} reviews need at least ${perSubject} users`);
  const db = openDatabase(path);
  applyMigrations(db);
  const sqlite = db.$client;
  const next = random(42);
  const total = size.users + size.reviews + size.comments;
  const insertUser = sqlite.prepare('insert into users (id, name, created_at, updated_at) values (?, ?, ?, ?)');
  const insertReview = sqlite.prepare(
    'insert into reviews (id, subject, rating, title, body, author_id, version, created_at, updated_at) values (?, ?, ?, ?, ?, ?, 1, ?, ?)',
  );
  const insertComment = sqlite.prepare(
    'insert into comments (id, review_id, body, author_id, version, created_at, updated_at) values (?, ?, ?, ?, 1, ?, ?)',
  );
  const stride = Math.max(1, Math.floor(size.users / perSubject));
  sqlite.transaction(() => {
    for (let u = 1; u <= size.users; u++) insertUser.run(userId(u), `User ${u}`, EPOCH_MS, EPOCH_MS);
    onProgress?.(size.users, total);
    for (let r = 1; r <= size.reviews; r++) {
      const subject = (r - 1) % size.subjects;
      const round = Math.floor((r - 1) / size.subjects);
      const author = ((round * stride + subject) % size.users) + 1;
      const at = EPOCH_MS + r * 1000;
      insertReview.run(
        r,
        subjectName(subject + 1),
        1 + Math.floor(next() * 5),
        sentence(next, 4),
        sentence(next, 40 + Math.floor(next() * 60)),
        userId(author),
        at,
        at,
      );
      if (r % 1000 === 0) onProgress?.(size.users + r, total);
    }
    insertComments(size, 1, size.comments, next, insertComment, (done) =>
      onProgress?.(size.users + size.reviews + done, total),
    );
  })();
  sqlite.pragma('wal_checkpoint(TRUNCATE)');
  sqlite.close();
}

function insertComments(
  size: DatasetSize,
  from: number,
  to: number,
  next: () => number,
  statement: { run: (...params: unknown[]) => unknown },
  onProgress: (done: number) => void,
) {
  for (let c = from; c <= to; c++) {
    const review = ((c - 1) % size.reviews) + 1;
    const at = EPOCH_MS + size.reviews * 1000 + c * 1000;
    statement.run(
      c,
      review,
      sentence(next, 10 + Math.floor(next() * 30)),
      userId(1 + Math.floor(next() * size.users)),
      at,
      at,
    );
    if (c % 10_000 === 0) onProgress(c - from + 1);
  }
}

/**
 * Seeds a database of at least `bytes` on disk (for restore timings): the default dataset,
 * then more comments in batches until the file is that large.
 */
export function seedDatabaseOfSize(path: string, bytes: number, onProgress?: (bytes: number) => void) {
  const base: DatasetSize = bytes < 2e6 ? DATASETS.tiny : bytes < 20e6 ? DATASETS.small : DATASETS.default;
  seedDatabase(path, base);
  const db = openDatabase(path);
  const sqlite = db.$client;
  const statement = sqlite.prepare(
    'insert into comments (id, review_id, body, author_id, version, created_at, updated_at) values (?, ?, ?, ?, 1, ?, ?)',
  );
  const next = random(7);
  const batch = 50_000;
  let last = base.comments;
  const fileBytes = () =>
    Number(sqlite.pragma('page_count', { simple: true })) * Number(sqlite.pragma('page_size', { simple: true }));
  while (fileBytes() < bytes) {
    const from = last + 1;
    sqlite.transaction(() => insertComments(base, from, from + batch - 1, next, statement, () => {}))();
    last += batch;
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    onProgress?.(statSync(path).size);
  }
  sqlite.close();
}
