import { encodeGlobalID } from '@pothos/plugin-relay';
import type { Db } from '../../src/db/client.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { aComment, aReview, aUser } from '../support/fixtures.ts';

/** Values a generated request picks from: ids that exist, ids that do not, and malformed ones. */
export interface Pools {
  subjects: string[];
  reviewIds: string[];
  commentIds: string[];
  userIds: string[];
  /** Global ids of no row, of the wrong type, and not ids at all. */
  strangeIds: string[];
  cursors: string[];
}

/**
 * A database where every order key ties: reviews share creation instants and ratings, comments
 * share instants, several subjects and authors, text that JSON must escape, instants from 1970
 * to past the year 9999.
 */
export function tiedDataset(): { db: Db; pools: Omit<Pools, 'cursors'> } {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const subjects = ['espresso', 'grinder', 'kettle "pro"'];
  const instants = [0, 1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_999, 253_402_300_800_000];
  const authors = ['alice', 'bob', 'carol', 'dave\u2028'];
  for (const author of authors) aUser(db, author, `${author} the "reviewer"\n\t\u0001`);
  const reviewIds: string[] = [];
  const commentIds: string[] = [];
  let n = 0;
  for (const subject of subjects) {
    for (const author of authors) {
      n++;
      if (n % 5 === 0) continue;
      const review = aReview(db, {
        subject,
        authorId: author,
        rating: (n % 3) + 3,
        title: `Title ${n} \u00e9\u{1F600} </script>`,
        body: `Body\\${n}\r\n`,
        createdAt: instants[n % instants.length] ?? 0,
      });
      reviewIds.push(review.globalId);
      for (let c = 0; c < n % 4; c++) {
        const comment = aComment(db, {
          reviewId: review.id,
          authorId: authors[(n + c) % authors.length] ?? 'alice',
          createdAt: instants[c % 2] ?? 0,
        });
        commentIds.push(encodeGlobalID('Comment', comment.id));
      }
    }
  }
  const strangeIds = [
    encodeGlobalID('Review', 9999),
    encodeGlobalID('Comment', 9999),
    encodeGlobalID('User', 'nobody'),
    encodeGlobalID('Review', 'abc'),
    encodeGlobalID('Review', '007'),
    encodeGlobalID('Query', 1),
    'not-an-id',
    '',
  ];
  return {
    db,
    pools: {
      subjects: [...subjects, 'unknown'],
      reviewIds,
      commentIds,
      userIds: authors.map((a) => encodeGlobalID('User', a)),
      strangeIds,
    },
  };
}
