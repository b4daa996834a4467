import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { FollowedReads } from '../../src/failover/followed-reads.ts';
import { ReplicaFollower } from '../../src/replication/follower.ts';
import { type Replication, startReplication } from '../../src/replication/primary.ts';
import { eventually, type Sandbox, sandbox, settingsOf } from './support.ts';

/**
 * A standby's reads against a real Litestream 0.3.13 replicating a real primary file to a
 * directory: two followed files take turns, one served while the other takes the new WAL.
 * Readers run on every turn of the event loop between the rounds: each must see a whole
 * transaction of the primary's, never a part of one, and the served file must pass
 * integrity_check at every swap.
 */

const logger = pino({ level: 'silent' });

let box: Sandbox | null = null;
let primary: Db | null = null;
let replication: Replication | null = null;
let follower: ReplicaFollower | null = null;
let reads: FollowedReads | null = null;

afterEach(async () => {
  reads?.close();
  follower?.close();
  await replication?.stop();
  primary?.$client.close();
  box?.cleanup();
  [reads, follower, replication, primary, box] = [null, null, null, null, null];
});

/**
 * Each transaction moves one unit between two accounts and appends a ledger row of ~2 KB (so
 * the WAL passes Litestream's checkpoint and starts new indexes): in every committed state the
 * balances sum to 0 and the ledger has as many rows as the counter says.
 */
function transfer(db: Db, round: number) {
  db.$client.transaction(() => {
    db.$client.prepare('update accounts set balance = balance - 1 where id = ?').run(round & 1);
    db.$client.prepare('update accounts set balance = balance + 1 where id = ?').run((round + 1) & 1);
    db.$client.prepare('insert into ledger (note) values (randomblob(2000))').run();
    db.$client.prepare('update counter set transfers = transfers + 1').run();
  })();
}

describe('followed reads', () => {
  it('swap files under concurrent readers without a torn read, each served file whole', {
    timeout: 120_000,
  }, async () => {
    box = sandbox('directory', undefined, { REPLICA_SYNC_INTERVAL: '100ms', REPLICA_MONITOR_INTERVAL: '100ms' });
    const config = settingsOf(box.env);
    primary = openDatabase(config.databasePath, { replicating: true });
    // A restore checks the file is this service's: its migrations.
    applyMigrations(primary);
    primary.$client.exec(`
      create table accounts (id integer primary key, balance integer not null);
      insert into accounts values (0, 0), (1, 0);
      create table ledger (id integer primary key, note blob);
      create table counter (transfers integer not null);
      insert into counter values (0);
    `);
    replication = await startReplication(config, logger);
    // Litestream begins its generation with the first WAL it sees.
    transfer(primary, -1);
    const paths: [string, string] = [join(box.dir, 'followed.db'), join(box.dir, 'followed.db.standby')];
    follower = await eventually(
      async () => (await ReplicaFollower.start(config, logger, paths[0], [paths[1]])) ?? undefined,
      10_000,
      'a generation',
    );
    const followed = follower;
    reads = new FollowedReads(() => followed, paths);
    const served = reads;
    await served.refresh();

    const sum = served.db.$client.prepare('select sum(balance) as total from accounts').pluck();
    const state = served.db.$client.prepare(
      'select (select transfers from counter) as transfers, (select count(*) from ledger) as rows',
    );
    let stop = false;
    let readCount = 0;
    const torn: unknown[] = [];
    const readers = (async () => {
      while (!stop) {
        const total = sum.get();
        const { transfers, rows } = state.get() as { transfers: number; rows: number };
        if (total !== 0 || transfers !== rows) torn.push({ total, transfers, rows });
        readCount++;
        await nextTurn();
      }
    })();

    const swaps = new Set<string>();
    const checks: string[] = [];
    let lastFile = served.servedPath;
    for (let round = 0; round < 400; round++) {
      transfer(primary, round);
      if (round % 10 === 9) {
        // Past one sync interval: Litestream has shipped what the last transfers wrote.
        await sleep(150);
        await served.refresh();
        if (served.servedPath !== lastFile) {
          lastFile = served.servedPath;
          swaps.add(JSON.stringify(served.describe().position));
          checks.push(served.db.$client.pragma('followed.integrity_check', { simple: true }) as string);
        }
      }
    }
    // The last transfers shipped and taken.
    const transfers = 401;
    await eventually(
      async () => {
        await served.refresh();
        const { transfers: seen } = state.get() as { transfers: number };
        return seen === transfers ? true : undefined;
      },
      20_000,
      'every transfer to be served',
    );
    stop = true;
    await readers;

    expect(torn).toEqual([]);
    expect(readCount).toBeGreaterThan(100);
    expect(swaps.size).toBeGreaterThan(5);
    expect(new Set(checks)).toEqual(new Set(['ok']));
    // Several WAL indexes went by: the lagging file took whole indexes it had missed.
    expect(follower.describe().index).toBeGreaterThan(0);
    expect(served.lagMs()).toBeLessThan(10_000);
  });
});
