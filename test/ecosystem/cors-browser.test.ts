import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lacks } from '../support/system-programs.ts';
import { launchChromium } from './browser.ts';
import { aliceToken, type Served, serve } from './served.ts';

const ADD_REVIEW = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }';
const LATEST = 'query Latest { reviews(first: 5) { nodes { title } } }';

/** A front end's origin: a page of its own on another port of loopback. */
async function frontEnd(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>front end</title>'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Seen {
  ok: boolean;
  status?: number;
  body?: unknown;
  requestId?: string | null;
  error?: string;
}

/** A script on `page` calls the API as a front end would: with credentials and a token. */
function callFrom(page: Page, url: string, init: { method: string; body?: unknown; token?: string }) {
  return page.evaluate(
    async ({ url, method, body, token }): Promise<Seen> => {
      try {
        const response = await fetch(url, {
          method,
          credentials: 'include',
          headers: {
            ...(body !== undefined && { 'content-type': 'application/json' }),
            ...(token && { authorization: `Bearer ${token}` }),
          },
          ...(body !== undefined && { body: JSON.stringify(body) }),
        });
        return {
          ok: true,
          status: response.status,
          body: await response.json(),
          requestId: response.headers.get('x-request-id'),
        };
      } catch (error) {
        return { ok: false, error: String(error) };
      }
    },
    { url, ...init },
  );
}

const describeInBrowser = describe.skipIf(lacks('chromium', 'the cross-origin browser test'));

describeInBrowser('CORS in a real browser: a front end on another origin', () => {
  let listed: Awaited<ReturnType<typeof frontEnd>>;
  let other: Awaited<ReturnType<typeof frontEnd>>;
  let served: Served;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    listed = await frontEnd();
    other = await frontEnd();
    served = await serve({ config: { corsOrigins: [listed.origin] } });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await served?.close();
    listed?.server.close();
    other?.server.close();
  });

  const pageAt = async (origin: string) => {
    const page = await browser.context.newPage();
    await page.goto(`${origin}/`);
    return page;
  };

  it('writes and reads with credentials and a token from a listed origin, preflight and all', async () => {
    const page = await pageAt(listed.origin);
    const token = await aliceToken();
    const input = { subject: 'cors', rating: 5, title: 'From the front end', body: 'Across origins.' };
    const written = await callFrom(page, `${served.origin}/graphql`, {
      method: 'POST',
      token,
      body: { query: ADD_REVIEW, variables: { input } },
    });
    expect(written).toMatchObject({
      ok: true,
      status: 200,
      body: { data: { createReview: { review: { title: input.title } } } },
    });
    // An exposed header the page's script may read.
    expect(written.requestId).toMatch(/.+/);
    // Twice: the second is answered by the fast lane, in front of Yoga, under the same rule.
    for (let i = 0; i < 2; i++) {
      const read = await callFrom(page, `${served.origin}/graphql`, { method: 'POST', body: { query: LATEST } });
      expect(read).toMatchObject({ ok: true, body: { data: { reviews: { nodes: [{ title: input.title }] } } } });
    }
    const rest = await callFrom(page, `${served.origin}/api/reviews?subject=cors`, { method: 'GET', token });
    expect(rest).toMatchObject({ ok: true, status: 200, body: { totalCount: 1 } });
    await page.close();
  });

  it('keeps every answer from a page on an origin not listed', async () => {
    const page = await pageAt(other.origin);
    const token = await aliceToken();
    for (const [url, init] of [
      [`${served.origin}/graphql`, { method: 'POST', body: { query: LATEST } }],
      [`${served.origin}/graphql`, { method: 'POST', token, body: { query: LATEST } }],
      [`${served.origin}/api/reviews`, { method: 'GET' }],
    ] as const) {
      const seen = await callFrom(page, url, init);
      expect(seen.ok, `${init.method} ${url}`).toBe(false);
      expect(seen.error).toMatch(/Failed to fetch/);
    }
    await page.close();
  });
});
