import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type Served, spawnCollecting, startServe } from '../support/process.ts';
import {
  createReview,
  eventually,
  gql,
  PROCESS_TEST_TIMEOUT_MS,
  ready,
  replicated,
  rowsOf,
  type Sandbox,
  sandbox,
  stopAll,
  tokenFor,
} from './support.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/restore-to-standby.sh', import.meta.url));

/** Runs the script; `listening` resolves with the server's URL once the server it starts listens. */
function runScript(args: string[], env: Record<string, string>) {
  const { child, exited, output } = spawnCollecting('bash', [SCRIPT, ...args], { PORT: '0', WORKERS: '1', ...env });
  const listening = () =>
    eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`the script exited ${child.exitCode}: ${output().stderr}`);
        const line = output()
          .stdout.split('\n')
          .find((text) => text.includes('"msg":"listening"'));
        return line ? String(JSON.parse(line).url).replace(/\/graphql$/, '') : undefined;
      },
      60_000,
      'the standby to listen',
    );
  return { child, exited, listening, output };
}

describe('scripts/restore-to-standby.sh', () => {
  let box: Sandbox | undefined;
  let served: Served | undefined;
  let script: ChildProcess | undefined;
  let litestreamPid: number | null = null;

  afterEach(async () => {
    if (script && script.exitCode === null && script.signalCode === null) {
      script.kill('SIGKILL');
      await once(script, 'exit');
    }
    await stopAll(served, litestreamPid);
    box?.cleanup();
  });

  it(
    'restores the replica onto a standby data directory, as of a time or the latest, and serves it there',
    async () => {
      box = sandbox('directory', undefined);
      served = await startServe(box.env);
      const token = await tokenFor('alice');
      for (let n = 0; n < 2; n++) await createReview(served.url, token, `early-${n}`);
      await replicated(served.url);
      await new Promise((done) => setTimeout(done, 1100));
      const pointInTime = new Date().toISOString();
      await new Promise((done) => setTimeout(done, 1100));
      await createReview(served.url, token, 'late');
      await replicated(served.url);
      await served.stop('SIGTERM');

      const asOf = runScript(
        ['--data-dir', join(box.dir, 'as-of'), '--timestamp', pointInTime, '--check', 'full', '--no-start'],
        box.env,
      );
      script = asOf.child;
      expect(await asOf.exited).toBe(0);
      expect(asOf.output().stderr).toContain(`restored as of ${pointInTime}`);
      expect(asOf.output().stderr).toMatch(/, integrity_check ok\b/);
      const subjects = rowsOf(join(box.dir, 'as-of', 'reviews.db')).reviews.map(
        (row) => (row as { subject: string }).subject,
      );
      expect(subjects.sort()).toEqual(['early-0', 'early-1']);

      const standbyDir = join(box.dir, 'standby-host');
      const run = runScript(['--data-dir', standbyDir], box.env);
      script = run.child;
      const url = await run.listening();
      litestreamPid = (await ready(url)).replication.litestream.pid;
      const { data } = await gql(url, '{ reviews(orderBy: OLDEST) { nodes { subject } } }', {});
      expect(data.reviews.nodes.map((review: { subject: string }) => review.subject)).toEqual([
        'early-0',
        'early-1',
        'late',
      ]);
      expect(existsSync(join(standbyDir, 'reviews.db'))).toBe(true);

      // The server is the script's own process (exec): SIGTERM stops it cleanly.
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);

      // Restored as of a time and started, a host serves that time (a rollback): serve keeps the
      // file the restore wrote, rather than catching up with the replica's newest generation.
      const rollback = runScript(['--data-dir', join(box.dir, 'rollback-host'), '--timestamp', pointInTime], box.env);
      script = rollback.child;
      const rollbackUrl = await rollback.listening();
      litestreamPid = (await ready(rollbackUrl)).replication.litestream.pid;
      const rolledBack = await gql(rollbackUrl, '{ reviews(orderBy: OLDEST) { nodes { subject } } }', {});
      expect(rolledBack.data.reviews.nodes.map((review: { subject: string }) => review.subject)).toEqual([
        'early-0',
        'early-1',
      ]);
      rollback.child.kill('SIGTERM');
      expect(await rollback.exited).toBe(0);
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it(
    'starts nothing and fails when there is nothing to restore',
    async () => {
      box = sandbox('directory', undefined);
      const run = runScript(['--data-dir', join(box.dir, 'standby-host')], box.env);
      script = run.child;
      const code = await run.exited;
      expect(code).not.toBe(0);
      expect(run.output().stderr).toMatch(/reviews-api: no backups found in the replica/);
      expect(run.output().stdout).not.toContain('listening');
    },
    PROCESS_TEST_TIMEOUT_MS,
  );

  it('prints its usage', async () => {
    const run = runScript(['--help'], {});
    script = run.child;
    expect(await run.exited).toBe(0);
    expect(run.output().stdout).toMatch(/^Usage: scripts\/restore-to-standby\.sh/);
  });
});
