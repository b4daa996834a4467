import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningNginx, startNginx } from '../../drill/nginx.ts';
import { type NodeProcess, startNodeIn } from '../../drill/node-process.ts';
import { freePort } from '../../drill/ports.ts';
import { servePage } from '../../examples/web/server.ts';
import { POSITION_COOKIE, POSITION_HEADER } from '../../src/failover/positions.ts';
import { createReview, eventually, gql, type Sandbox, sandbox, tokenFor } from '../replication/support.ts';
import { lacks } from '../support/system-programs.ts';
import { launchChromium } from './browser.ts';

const describeOnNodes = describe.skipIf(
  lacks('chromium', 'the example front end on three nodes') || lacks('nginx', 'the example front end on three nodes'),
);

/**
 * Litestream ships every 3 s: a standby is up to that far behind, so a read right after a
 * write that lands on one finds it without the comment unless the read names the write.
 */
const SYNC = '3s';
/** Reads right after a write that nginx sent to a standby, for the test to count. */
const STANDBY_REREADS = 3;

/**
 * examples/web in Chromium on its own origin (http://localhost:…) against three nodes — a
 * primary and two standbys, real processes, Litestream to a directory replica — behind the
 * drill's nginx (deploy/'s template) on another site (http://127.0.0.1:…), as a front end
 * meets a deployment that spreads its reads.
 */
describeOnNodes('the example front end against three nodes behind nginx, from another site', () => {
  let box: Sandbox;
  let page: Awaited<ReturnType<typeof servePage>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let nginx: RunningNginx;
  const nodes: NodeProcess[] = [];
  let alice: string;
  let bob: string;
  let reviewId: string;
  const problems: string[] = [];

  beforeAll(async () => {
    page = await servePage({ port: 0, host: 'localhost' });
    box = sandbox('directory', undefined, {
      HEARTBEAT_INTERVAL_MS: '200',
      REPLICA_SYNC_INTERVAL: SYNC,
      WORKERS: '1',
      CORS_ORIGINS: page.origin,
    });
    box.env.LEASE_URL = `file:${join(box.dir, 'lease')}`;
    const primary = await startNodeIn(box.dir, 'a', box.env);
    nodes.push(primary);
    for (const name of ['b', 'c']) nodes.push(await startNodeIn(box.dir, name, box.env, { primaryUrl: primary.url }));
    nginx = await startNginx(join(box.dir, 'nginx'), {
      nodes: nodes.map((node) => new URL(node.url).host),
      listen: `127.0.0.1:${await freePort()}`,
    });
    alice = await tokenFor('alice');
    bob = await tokenFor('bob');
    reviewId = await createReview(nginx.url, bob, 'kettle');
    // Both standbys answer reads themselves, from data holding the review, before the page opens.
    for (const standby of nodes.slice(1)) {
      await eventually(
        async () => {
          const state = (await (await fetch(`${standby.url}/ready`)).json()) as { reads?: { answeredHere?: boolean } };
          if (!state.reads?.answeredHere) return undefined;
          const found = await gql(standby.url, '{ reviews(first: 1) { totalCount } }', {});
          return found.data?.reviews.totalCount || undefined;
        },
        30_000,
        `standby ${standby.url} to serve the review`,
      );
    }
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await nginx?.stop();
    for (const node of nodes) await node.stop('SIGKILL');
    await page?.close();
    box?.cleanup();
  });

  /**
   * How many of the page's reads (`List`, `Review`) each node answered itself, from its own
   * /metrics: a read a standby hands to the primary counts on the primary.
   */
  async function readsAnswered(node: NodeProcess): Promise<number> {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('reviews_api_http_request_duration_seconds_count{'))
      .filter((line) => /operation="(List|Review)"/.test(line))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  }
  const answeredByEach = () => Promise.all(nodes.map(readsAnswered));

  const open = async (token: string): Promise<Page> => {
    const tab = await browser.context.newPage();
    tab.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    tab.on('pageerror', (error) => problems.push(error.message));
    const api = `${nginx.url}/graphql`;
    await tab.goto(
      `${page.origin}/?api=${encodeURIComponent(api)}&token=${token}#review=${encodeURIComponent(reviewId)}`,
    );
    await expect.poll(() => tab.locator('#title').textContent()).toBe('kettle');
    return tab;
  };
  const comments = (tab: Page) => tab.locator('#comments li').allTextContents();

  it('shows its own comment at once on every read, wherever nginx sends it, and the other tab gets it live', {
    timeout: 120_000,
  }, async () => {
    expect(new URL(page.origin).hostname).toBe('localhost');
    expect(new URL(nginx.url).hostname).toBe('127.0.0.1');
    const tabA = await open(alice);
    const tabB = await open(bob);

    // Each round: a comment through the page, then the review opened again at once — a read
    // that nginx may send to a standby which does not hold the comment yet.
    const written: string[] = [];
    let answeredOnStandby = 0;
    await tabA.bringToFront(); // a background tab's timers are throttled
    for (let round = 0; round < 12 && answeredOnStandby < STANDBY_REREADS; round++) {
      const text = `Hello from tab A, ${round}`;
      await tabA.locator('textarea[name="body"]').fill(text);
      await tabA.getByRole('button', { name: 'Add comment' }).click();
      written.push(`alice: ${text}`);
      await expect.poll(() => comments(tabA)).toContain(`alice: ${text}`);

      const before = await answeredByEach();
      const answered = tabA.waitForResponse(
        (response) => response.request().postData()?.includes('query Review') ?? false,
      );
      await tabA.getByRole('link', { name: '← All reviews' }).click();
      await tabA.getByRole('link', { name: 'kettle' }).click();
      const reread = await answered;
      // Counted as the answer is sent: wait for it to show in /metrics.
      const total = (counts: number[]) => counts.reduce((sum, count) => sum + count, 0);
      await expect.poll(async () => total(await answeredByEach())).toBe(total(before) + 1);
      const after = await answeredByEach();
      if (after.slice(1).some((count, i) => count > (before[i + 1] as number))) answeredOnStandby++;
      // From another site the browser keeps the SameSite=Lax cookie back: the position goes
      // as the header the page passes on.
      const sent = await reread.request().allHeaders();
      expect([POSITION_HEADER in sent, sent.cookie?.includes(POSITION_COOKIE) ?? false]).toEqual([true, false]);
      // One read, one answer: the page shows what that answer held.
      await expect.poll(() => comments(tabA)).toEqual(expect.arrayContaining(written));
    }
    expect(answeredOnStandby).toBe(STANDBY_REREADS);

    // Tab B follows the review live: A's comments reach it.
    await expect
      .poll(async () => (await comments(tabB)).filter((comment) => comment.startsWith('alice: ')).length, {
        timeout: 15_000,
      })
      .toBeGreaterThan(0);

    // The page's reads were answered by more than one node.
    expect((await answeredByEach()).filter((count) => count > 0).length).toBeGreaterThan(1);
    expect(problems).toEqual([]);
  });
});
