import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../src/http/server.ts';
import { createTestApp } from '../support/app.ts';
import { runCli, type Served, startServe } from '../support/process.ts';

describe('over a real socket', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await listen(createTestApp().app.handle, { port: 0, host: '127.0.0.1' });
  });
  afterAll(() => server.close());

  it('answers GraphQL POSTs and health checks', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ reviews { totalCount } }' }),
    });
    expect(await response.json()).toEqual({ data: { reviews: { totalCount: 0 } } });
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.url}/ready`)).status).toBe(200);
  });

  it('serves GraphiQL to a browser from the service itself, with no CDN', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('GraphiQL');
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/i);
    expect(html).toContain('query Reviews');
  });
});

describe('reviews-api serve', () => {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-serve-'));
  const env = {
    REPLICATION: 'off',
    DATABASE_PATH: join(dir, 'reviews.db'),
    JWT_SECRET: 'serve-test-secret-that-is-32-chars-or-more',
  };
  let served: Served | undefined;
  afterEach(async () => {
    await served?.stop('SIGKILL');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates, serves writes with a CLI token, and stops cleanly on SIGTERM after finishing a request in flight', async () => {
    served = await startServe(env);
    const token = (await runCli(['token', 'alice', '--name', 'Alice'], env)).stdout.trim();
    const created = await fetch(`${served.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'mutation { createReview(input: { subject: "s", rating: 3, title: "t", body: "b" }) { review { id } } }',
      }),
    });
    expect((await created.json()).data.createReview.review.id).toBeTruthy();

    // A request whose body is still arriving when SIGTERM comes must still be answered.
    const { port } = new URL(served.url);
    const body = JSON.stringify({ query: '{ reviews { totalCount } }' });
    const inFlight = new Promise<{ status?: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: '/graphql',
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode, text }));
        },
      );
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => req.end(body.slice(10)), 300);
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exit = served.stop('SIGTERM');
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ data: { reviews: { totalCount: 1 } } });
    expect(await exit).toBe(0);
    expect(served.logs.map((line) => line.msg)).toContain('stopped');

    const db = new Database(env.DATABASE_PATH, { readonly: true });
    expect(db.prepare('select count(*) from reviews').pluck().get()).toBe(1);
    db.close();
  });

  it('refuses to start with a bad configuration, naming every bad variable', async () => {
    const result = await runCli(['serve'], { ...env, PORT: 'x', DURABILITY: 'maybe' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('PORT');
    expect(result.stderr).toContain('DURABILITY');
  });

  it('migrate applies the migrations to DATABASE_PATH', async () => {
    const path = join(dir, 'migrated.db');
    const result = await runCli(['migrate'], { ...env, DATABASE_PATH: path });
    expect(result.code).toBe(0);
    const db = new Database(path, { readonly: true });
    const tables = db.prepare("select name from sqlite_master where type = 'table'").pluck().all();
    expect(tables).toEqual(expect.arrayContaining(['users', 'reviews', 'comments', 'idempotency_keys']));
    db.close();
  });

  it('token refuses unknown roles', async () => {
    const result = await runCli(['token', 'bob', '--role', 'admin'], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('moderator');
  });
});
