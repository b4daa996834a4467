import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { durationMs } from '../../src/duration.ts';
import { litestreamBinary } from '../../src/replication/binary.ts';
import { LitestreamSupervisor } from '../../src/replication/litestream.ts';
import { litestreamFailure, parseLitestreamLogLine } from '../../src/replication/litestream-log.ts';
import { bytesBehind, databaseMetrics, parsePrometheusText } from '../../src/replication/metrics.ts';
import { type Generation, planRestore, RestoreError } from '../../src/replication/restore.ts';
import { litestreamEnvironment, metricsUrl } from '../../src/replication/settings.ts';
import { WalReader } from '../../src/replication/wal.ts';
import { settingsOf } from './support.ts';

describe('the Litestream binary', () => {
  it('is the platform executable itself, v0.3.13, not the node wrapper', () => {
    const binary = litestreamBinary();
    expect(binary).toMatch(/@flydotio\/litestream-[a-z0-9]+-[a-z0-9]+\/litestream$/);
    expect(execFileSync(binary, ['version']).toString().trim()).toBe('v0.3.13');
  });
});

describe('the supervisor', () => {
  it('reports a Litestream that cannot start instead of retrying behind the caller', async () => {
    const supervisor = new LitestreamSupervisor({
      args: ['replicate', '-config', '/nonexistent/litestream.yml'],
      env: {},
      logger: pino({ level: 'silent' }),
      logPath: join(mkdtempSync(join(tmpdir(), 'supervisor-')), 'litestream.log'),
      isServing: async () => false,
      orphanGraceMs: 1000,
      restartDelayMs: 10,
    });
    await expect(supervisor.start()).rejects.toThrow('Litestream did not start: exited with code 1');
    expect(supervisor.state).toMatchObject({ status: 'stopped', restarts: 0 });
    await new Promise((done) => setTimeout(done, 100));
    expect(supervisor.state).toMatchObject({ status: 'stopped', restarts: 0 });
  });
});

describe('litestream.yml variables', () => {
  it('give a directory replica as an absolute path and no S3 settings', () => {
    const env = litestreamEnvironment(settingsOf({ REPLICA_ENDPOINT: 'http://ignored:9000' }), '127.0.0.1:9999');
    expect(env).toEqual({
      DATABASE_PATH: join(process.cwd(), 'data/reviews.db'),
      REPLICA_DIR: join(process.cwd(), 'data/replica'),
      REPLICA_S3_URL: '',
      REPLICA_ENDPOINT: '',
      REPLICA_SYNC_INTERVAL: '1s',
      REPLICA_MONITOR_INTERVAL: '250ms',
      REPLICA_SNAPSHOT_INTERVAL: '1h',
      REPLICA_RETENTION: '72h',
      LITESTREAM_METRICS_ADDR: '127.0.0.1:9999',
    });
  });

  it('give an S3 replica as its URL and endpoint', () => {
    const env = litestreamEnvironment(
      settingsOf({
        REPLICA_URL: 's3://backups/reviews',
        REPLICA_ENDPOINT: 'http://127.0.0.1:9000',
        REPLICA_SYNC_INTERVAL: '250ms',
      }),
    );
    expect(env).toMatchObject({
      REPLICA_DIR: '',
      REPLICA_S3_URL: 's3://backups/reviews',
      REPLICA_ENDPOINT: 'http://127.0.0.1:9000',
      REPLICA_SYNC_INTERVAL: '250ms',
    });
  });

  it('refuse bad replication settings at start, naming the variable', () => {
    const result = loadConfig({ REPLICA_RETENTION: 'forever', LITESTREAM_METRICS_ADDR: 'nowhere' });
    expect(result.ok ? [] : result.errors.map((error) => error.split(':')[0])).toEqual([
      'REPLICA_RETENTION',
      'LITESTREAM_METRICS_ADDR',
    ]);
  });

  it('read durations and metrics addresses the way Litestream does', () => {
    expect([durationMs('250ms'), durationMs('1s'), durationMs('5m'), durationMs('2h')]).toEqual([
      250, 1000, 300_000, 7_200_000,
    ]);
    expect(metricsUrl('127.0.0.1:9090')).toBe('http://127.0.0.1:9090/metrics');
    expect(metricsUrl(':9090')).toBe('http://127.0.0.1:9090/metrics');
    expect(metricsUrl('0.0.0.0:9090')).toBe('http://127.0.0.1:9090/metrics');
  });
});

describe("Litestream's metrics", () => {
  const db = '/srv/reviews.db';
  const text = `# HELP litestream_shadow_wal_index Current index of shadow WAL
# TYPE litestream_shadow_wal_index gauge
litestream_shadow_wal_index{db="${db}"} 3
litestream_shadow_wal_size{db="${db}"} 82432
litestream_replica_wal_index{db="${db}",name="s3"} 2
litestream_replica_wal_offset{db="${db}",name="s3"} 4152
litestream_sync_count{db="${db}"} 41
litestream_sync_error_count{db="${db}"} 1
litestream_db_size{db="/other.db"} 1
go_goroutines 12
`;

  it('are parsed into positions for one database', () => {
    expect(parsePrometheusText(text)).toContainEqual({ name: 'go_goroutines', labels: {}, value: 12 });
    expect(databaseMetrics(parsePrometheusText(text), db)).toMatchObject({
      // litestream_shadow_wal_size totals the shadow WAL files kept: a size, not an offset.
      shadowIndex: 3,
      shadowWalBytes: 82432,
      replicas: [{ name: 's3', position: { index: 2, offset: 4152 } }],
      syncs: 41,
      syncErrors: 1,
    });
    expect(databaseMetrics(parsePrometheusText(text), '/missing.db')).toBeNull();
  });

  it('give the bytes a replica lacks, within and across WAL indexes', () => {
    expect(bytesBehind({ index: 3, offset: 9000 }, { index: 3, offset: 4000 })).toBe(5000);
    expect(bytesBehind({ index: 3, offset: 9000 }, { index: 3, offset: 9000 })).toBe(0);
    expect(bytesBehind({ index: 3, offset: 9000 }, { index: 2, offset: 50_000 })).toBe(9000);
    expect(bytesBehind({ index: 3, offset: 0 }, { index: 4, offset: 32 })).toBe(0);
  });
});

describe("Litestream's log lines", () => {
  it('are read for their level, message and error', () => {
    const line =
      'time=2026-11-25T11:05:35.316Z level=ERROR msg="cannot list generations" db=/d.db replica=s3 error="RequestError: send request failed\\ncaused by: dial tcp: refused"';
    expect(parseLitestreamLogLine(line)).toEqual({
      level: 'ERROR',
      msg: 'cannot list generations',
      fields: { db: '/d.db', replica: 's3', error: 'RequestError: send request failed\ncaused by: dial tcp: refused' },
    });
    expect(litestreamFailure([parseLitestreamLogLine(line)])).toBe(
      'cannot list generations: RequestError: send request failed caused by: dial tcp: refused',
    );
    expect(litestreamFailure([parseLitestreamLogLine('time=x level=INFO msg=fine')])).toBeNull();
  });
});

describe('planning a restore', () => {
  const at = (iso: string) => new Date(iso);
  const generations: Generation[] = [
    { generation: 'aaaa', start: at('2026-11-20T10:00:00Z'), end: at('2026-11-20T12:00:00Z') },
    { generation: 'bbbb', start: at('2026-11-21T09:00:00Z'), end: at('2026-11-21T18:30:00Z') },
  ];

  it('takes "latest" from the generation that started last', () => {
    expect(planRestore(generations, 'r')).toEqual({ attempt: { generation: 'bbbb' }, otherwise: null });
  });

  it('restores inside a generation to the time, and after its end to its end', () => {
    expect(planRestore(generations, 'r', at('2026-11-21T10:00:00Z'))).toEqual({
      attempt: { generation: 'bbbb', timestamp: at('2026-11-21T10:00:00Z') },
      otherwise: { generation: 'bbbb' },
    });
    // Between two generations: the first as it ended.
    expect(planRestore(generations, 'r', at('2026-11-20T20:00:00Z'))).toEqual({
      attempt: { generation: 'aaaa' },
      otherwise: null,
    });
    expect(planRestore(generations, 'r', at('2030-01-01T00:00:00Z')).attempt).toEqual({ generation: 'bbbb' });
  });

  it('never restores newer than asked in the second a generation starts', () => {
    expect(planRestore(generations, 'r', at('2026-11-21T09:00:00.400Z')).otherwise).toEqual({ generation: 'aaaa' });
    expect(planRestore(generations, 'r', at('2026-11-20T10:00:00.400Z')).otherwise).toBeNull();
  });

  it('refuses a time before the first snapshot, and an empty replica', () => {
    expect(() => planRestore(generations, 'r', at('2026-11-20T09:59:59Z'))).toThrow(
      new RestoreError(
        '2026-11-20T09:59:59.000Z is before the first snapshot in the replica (2026-11-20T10:00:00.000Z)',
      ),
    );
    expect(() => planRestore([], 's3://b/p')).toThrow('no backups found in the replica at s3://b/p');
  });
});

describe('the WAL reader', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('finds the end of the last committed frame, and only the current cycle of the file', () => {
    dir = mkdtempSync(join(tmpdir(), 'reviews-wal-'));
    const path = join(dir, 'wal.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    const reader = new WalReader(path);
    db.exec('create table t (x)');
    const afterCreate = reader.committedBytes();
    expect(afterCreate).toBeGreaterThan(32);
    expect((afterCreate - 32) % (24 + 4096)).toBe(0);

    db.prepare('insert into t values (?)').run('x'.repeat(10_000));
    const afterInsert = reader.committedBytes();
    expect(afterInsert).toBeGreaterThan(afterCreate);

    // An open transaction's frames, spilled to the WAL by a tiny page cache, are not committed yet.
    db.pragma('cache_size = 1');
    db.exec('begin');
    for (let n = 0; n < 20; n++) db.prepare('insert into t values (?)').run('y'.repeat(5_000));
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(afterInsert);
    expect(reader.committedBytes()).toBe(afterInsert);
    db.exec('commit');
    expect(reader.committedBytes()).toBeGreaterThan(afterInsert);

    // After a checkpoint that restarts the WAL, the old frames no longer count: one page changed.
    db.pragma('wal_checkpoint(RESTART)');
    db.prepare('insert into t values (?)').run('z');
    expect(reader.committedBytes()).toBe(32 + (24 + 4096));
    db.close();
  });
});
