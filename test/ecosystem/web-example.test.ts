import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servePage } from '../../examples/web/server.ts';
import { tokenFor } from '../support/app.ts';
import { lacks } from '../support/system-programs.ts';
import { launchChromium } from './browser.ts';
import { reviewOver, type Served, serve } from './served.ts';

const describeInBrowser = describe.skipIf(lacks('chromium', 'the example front end in a real browser'));

/**
 * examples/web driven in Chromium from its own origin (http://localhost:…) against the API on
 * another (http://127.0.0.1:…), which lists the page's origin in CORS_ORIGINS.
 */
describeInBrowser('the example front end, in a real browser on another origin', () => {
  let api: Served;
  let page: Awaited<ReturnType<typeof servePage>>;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let alice: string;
  let bob: string;
  let firstReview: string;
  const problems: string[] = [];

  beforeAll(async () => {
    page = await servePage({ port: 0, host: 'localhost' });
    api = await serve({ config: { corsOrigins: [page.origin] } });
    alice = await tokenFor('alice', { name: 'Alice' });
    bob = await tokenFor('bob', { name: 'Bob' });
    for (let n = 1; n <= 7; n++) {
      const input = { subject: `kettle-${n}`, rating: (n % 5) + 1, title: `Kettle number ${n}`, body: `Body ${n}` };
      const id = await reviewOver(api.origin, bob, input);
      if (n === 7) firstReview = id;
    }
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await page?.close();
  });

  const open = async (token: string): Promise<Page> => {
    const tab = await browser.context.newPage();
    tab.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    tab.on('pageerror', (error) => problems.push(error.message));
    await tab.goto(`${page.origin}/?api=${encodeURIComponent(`${api.origin}/graphql`)}&token=${token}`);
    return tab;
  };

  it('lists reviews a page at a time, opens one, and a comment added in one tab reaches the other live', async () => {
    expect(new URL(page.origin).origin).not.toBe(new URL(api.origin).origin);
    const tabA = await open(alice);
    const reviews = tabA.locator('#reviews li');
    await expect.poll(() => reviews.count()).toBe(5);
    await tabA.getByRole('button', { name: 'More reviews' }).click();
    await expect.poll(() => reviews.count()).toBe(7);
    expect(await tabA.getByRole('button', { name: 'More reviews' }).isHidden()).toBe(true);
    // Newest first: the last one created heads the list.
    await tabA.getByRole('link', { name: 'Kettle number 7' }).click();
    await expect.poll(() => tabA.locator('#title').textContent()).toBe('Kettle number 7');

    const tabB = await open(bob);
    await tabB.goto(`${tabB.url()}#review=${encodeURIComponent(firstReview)}`);
    await expect.poll(() => tabB.locator('#title').textContent()).toBe('Kettle number 7');

    // Written in tab A: on its page at once, from the mutation's edge. Tab B's live stream is
    // listening a moment after it opens, so A writes until B has one (as subscriptions document).
    const comments = (tab: Page) => tab.locator('#comments li').allTextContents();
    let reached: string | undefined;
    for (let attempt = 0; attempt < 20 && !reached; attempt++) {
      const text = `Hello from tab A, ${attempt}`;
      await tabA.locator('textarea[name="body"]').fill(text);
      await tabA.getByRole('button', { name: 'Add comment' }).click();
      await expect.poll(() => comments(tabA)).toContain(`Alice: ${text}`);
      await tabB.waitForTimeout(200);
      reached = (await comments(tabB)).find((comment) => comment.startsWith('Alice: Hello from tab A'));
    }
    expect(reached).toMatch(/^Alice: Hello from tab A, \d+$/);
    // Each comment once in tab A, though its live stream delivered it too.
    const own = await comments(tabA);
    expect(new Set(own).size).toBe(own.length);
    expect(problems).toEqual([]);
  });
});
