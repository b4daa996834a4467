import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, print } from 'graphql';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAPHIQL_DEFAULT_DOCUMENT } from '../../src/http/examples.ts';
import { lacks } from '../support/system-programs.ts';
import { launchChromium } from './browser.ts';
import { aliceToken, type Served, serve } from './served.ts';

/** Where the screenshot goes (gitignored): look at it to see what a person sees. */
const SCREENSHOT = join(import.meta.dirname, '..', '..', '.tmp', 'screenshots', 'graphiql.png');

/** The README's example read query: the `reviews(first: 20 …)` one in its curl command. */
function readmeQuery(): string {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const query = /"query":"(\{ reviews\(first: 20[^"]*)"/.exec(readme)?.[1];
  if (!query) throw new Error('README.md has no example reviews query');
  return query;
}

/** An operation's selections, printed the same way whatever its name and layout. */
function selections(document: string, operationName?: string): string {
  const operation = parse(document).definitions.find(
    (definition) =>
      definition.kind === 'OperationDefinition' && (!operationName || definition.name?.value === operationName),
  );
  if (operation?.kind !== 'OperationDefinition') throw new Error(`no operation ${operationName ?? ''}`);
  return print(operation.selectionSet);
}

/** A pane's text: Monaco renders spaces as non-breaking ones. */
const textOf = async (page: Page, selector: string) =>
  ((await page.locator(selector).textContent()) ?? '').replace(/\u00a0/g, ' ');
const responseText = (page: Page) => textOf(page, '.graphiql-response');

/** Runs one operation of the tab: ▶, then its name in the menu GraphiQL shows for several. */
async function run(page: Page, operationName: string) {
  await page.locator('.graphiql-execute-button').click();
  await page.getByRole('menuitem', { name: operationName }).click();
}

const describeInBrowser = describe.skipIf(lacks('chromium', 'the GraphiQL and REST reference browser tests'));

describeInBrowser('GraphiQL and the REST reference in a real browser', () => {
  let served: Served;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const requested: string[] = [];

  beforeAll(async () => {
    served = await serve();
    browser = await launchChromium();
    browser.context.on('request', (request) => requested.push(request.url()));
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
  });

  it('opens on the README examples', () => {
    expect(selections(GRAPHIQL_DEFAULT_DOCUMENT, 'Reviews')).toBe(selections(readmeQuery()));
  });

  it('runs the README example with a token header, shows the result, and loads nothing from off this machine', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${served.origin}/graphql`);
    await expect.poll(() => textOf(page, '.graphiql-query-editor'), { timeout: 20_000 }).toContain('query Reviews');

    // The token goes in the Headers pane, as the tab's comment tells a person to do.
    await page.getByText('Headers', { exact: true }).click();
    await page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden)').click();
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${await aliceToken()}` }));

    await run(page, 'CreateReview');
    await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain('"version": 1');

    await run(page, 'Reviews');
    await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain('"title": "Great crema"');
    const result = await responseText(page);
    expect(result).toContain('"totalCount": 1');
    expect(result).toContain('"name": "Alice"');
    expect(result).not.toContain('"errors"');

    await mkdir(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    // Scripts, styles, fonts and the workers' blobs: all from the service itself.
    const origin = new URL(served.origin).origin;
    const elsewhere = requested.filter(
      (url) => !url.startsWith(`${origin}/`) && !url.startsWith(`blob:${origin}/`) && !url.startsWith('data:'),
    );
    expect(elsewhere).toEqual([]);
    expect(requested.length).toBeGreaterThan(1);
  }, 90_000);

  it('renders the REST reference at /api/docs from the OpenAPI document, also without leaving the machine', async () => {
    requested.length = 0;
    const page = await browser.context.newPage();
    await page.goto(`${served.origin}/api/docs`);
    const operations = page.locator('.opblock-summary-path');
    await expect.poll(() => operations.count(), { timeout: 20_000 }).toBeGreaterThanOrEqual(12);
    expect(await operations.allTextContents()).toContain('/reviews/{reviewId}/comments/{id}');
    await page.screenshot({ path: join(SCREENSHOT, '..', 'rest-docs.png') });
    const origin = new URL(served.origin).origin;
    expect(requested.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:'))).toEqual([]);
  }, 60_000);
});
