import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATASETS, seedDatabase } from '../../bench/dataset.ts';
import { limitHandlers } from '../../bench/limit/handlers.ts';
import type { BenchResult } from '../../bench/run.ts';
import { PAGE_QUERY, SCENARIO_NAMES } from '../../bench/scenarios.ts';
import { openDatabase } from '../../src/db/client.ts';
import { createApp } from '../../src/http/yoga.ts';
import { tiedDataset } from '../reads/dataset.ts';
import { testConfig } from '../support/app.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The bench harness end to end on a tiny dataset, one second per measurement, so it cannot
 * rot: every server starts, the limit's bytes match the service's, every figure is written.
 * Speed is never asserted (a shared 2-core machine): only that the figures exist.
 */
describe('npm run bench (smoke)', () => {
  let out: string;
  let result: BenchResult;
  let svg: string;
  let stdout = '';

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'bench-smoke-'));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/cli.ts',
        '--dataset',
        'tiny',
        '--duration',
        '1',
        '--connections',
        '2',
        '--lag-samples',
        '2',
        '--sync-interval',
        '200ms',
        '--restore-sizes',
        '1',
        '--out',
        out,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    // Bounded: the whole run is killed (and the test fails) if it hangs.
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    if (code !== 0) throw new Error(`bench exited ${code}:\n${stderr}`);
    const files = await readdir(out);
    const json = files.find((file) => file.endsWith('.json'));
    const chart = files.find((file) => file.endsWith('.svg'));
    if (!json || !chart) throw new Error(`bench wrote ${files.join(', ')}`);
    result = JSON.parse(await readFile(join(out, json), 'utf8')) as BenchResult;
    svg = await readFile(join(out, chart), 'utf8');
  }, 180_000);

  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('measures every scenario on every server, with a ratio to the limit', () => {
    for (const scenario of SCENARIO_NAMES) {
      const servers = result.throughput.filter((row) => row.scenario === scenario).map((row) => row.server);
      expect(servers).toEqual(expect.arrayContaining(['limit', 'service', 'apollo']));
    }
    // The page's second form of the limit is measured for the page alone.
    expect(result.throughput.filter((row) => row.server === 'limit+statement').map((row) => row.scenario)).toEqual([
      'page',
    ]);
    for (const peer of ['service+cache', 'service+ordinary']) {
      expect(result.throughput.filter((row) => row.server === peer).map((row) => row.scenario)).toEqual(
        SCENARIO_NAMES.filter((name) => name !== 'addComment'),
      );
    }
    for (const row of result.throughput) {
      expect(row.requests, `${row.scenario} on ${row.server}`).toBeGreaterThan(0);
      expect(row.failures, `${row.scenario} on ${row.server}`).toBe(0);
      expect(row.ratioToLimit).toBeGreaterThan(0);
      expect(row.peakRssBytes).toBeGreaterThan(0);
    }
    expect(Object.keys(result.responseBytes).sort()).toEqual([...SCENARIO_NAMES].sort());
  });

  it('quotes the page against the faster form of the limit, in each figure', () => {
    const page = (server: string) => result.throughput.find((row) => row.scenario === 'page' && row.server === server);
    const [perReview, oneStatement, service] = [page('limit'), page('limit+statement'), page('service')];
    if (!perReview || !oneStatement || !service) throw new Error('a page figure is missing');
    expect(service.ratioToLimit).toBeCloseTo(service.rps / Math.max(perReview.rps, oneStatement.rps), 10);
    expect(service.cpuRatioToLimit).toBeCloseTo(
      Math.min(perReview.cpuMsPerRequest, oneStatement.cpuMsPerRequest) / service.cpuMsPerRequest,
      10,
    );
    expect(stdout).toMatch(/page · limit\+statement · 2 conn: ratios to limit(\+statement)? in req\/s, to limit/);
  });

  it('counts the same SQL statements for every page size', () => {
    const page = result.statements.filter((s) => s.scenario === 'page');
    expect(page.map((s) => s.pageSize)).toEqual([5, 20, 50]);
    expect(new Set(page.map((s) => s.statements)).size).toBe(1);
  });

  it('measures writes with replication on, the lag, and a restore next to a copy', () => {
    for (const server of ['service (replication on)', 'limit (replication on)'])
      expect(result.throughput.some((row) => row.server === server)).toBe(true);
    expect(result.replication?.lagMs.samples).toBe(2);
    expect(result.restore).toHaveLength(1);
    expect(result.restore[0]?.restoreCommandMs).toBeGreaterThan(0);
    expect(result.restore[0]?.copyMs).toBeGreaterThanOrEqual(0);
    expect(result.restore[0]?.restoreFullCheckMs).toBeGreaterThan(0);
    expect(result.restore[0]?.durableCopyMs).toBeGreaterThanOrEqual(0);
  });

  it('prints a table and draws the chart', () => {
    expect(stdout).toContain('CPU ms/req');
    expect(stdout).toMatch(/replication on for both, 2 conn: service ÷ limit \d+ % in req\/s/);
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('Throughput vs concurrency');
    expect(svg).toContain('Restore time vs database size');
  });
});

/**
 * Both forms of the limit's page answer the service's bytes (bench/equivalence.ts refuses a run
 * otherwise, at one page size): here at every page size, over the bench's own rows and over rows
 * where every order key ties, with reviews of no comment and text JSON must escape.
 */
describe("the limit's page, per review and in one statement", () => {
  interface PageAnswer {
    data: { reviews: { nodes: { title: string; commentCount: number; comments: { nodes: unknown[] } }[] } };
  }
  const cases = [
    {
      name: "the bench's tiny dataset",
      reviewsWithoutComments: false,
      open: () => {
        const dir = mkdtempSync(join(tmpdir(), 'bench-page-'));
        const path = join(dir, 'reviews.db');
        seedDatabase(path, DATASETS.tiny);
        const db = openDatabase(path);
        const close = () => {
          db.$client.close();
          rmSync(dir, { recursive: true, force: true });
        };
        return { db, close };
      },
    },
    {
      name: 'ties in every order key',
      reviewsWithoutComments: true,
      open: () => ({ db: tiedDataset().db, close: () => {} }),
    },
  ];

  it.each(cases)('answers what the service answers, on $name', async ({ open, reviewsWithoutComments }) => {
    const { db, close } = open();
    try {
      const app = createApp({ db, config: testConfig });
      const limit = limitHandlers(db.$client);
      const reviews = Number(db.$client.prepare('select count(*) from reviews').pluck().get());
      const newest = db.$client.prepare<[number], { title: string; count: number }>(
        `select title, (select count(*) from comments c where c.review_id = r.id) as count
           from reviews r order by created_at desc, id desc limit ?`,
      );
      const counts = new Set<number>();
      for (const first of [1, 5, 20, 50]) {
        const response = await app.fetch('http://localhost/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: PAGE_QUERY, operationName: 'Page', variables: { first } }),
        });
        const service = await response.text();
        expect(limit.page(first), `per review, first ${first}`).toBe(service);
        expect(limit.pageInOneStatement(first).toString(), `one statement, first ${first}`).toBe(service);
        // The same rows, read plainly: the newest reviews first, each with its count and first comments.
        const nodes = (JSON.parse(service) as PageAnswer).data.reviews.nodes;
        expect(nodes).toHaveLength(Math.min(first, reviews));
        expect(nodes.map((node) => [node.title, node.commentCount])).toEqual(
          newest.all(first).map((row) => [row.title, row.count]),
        );
        for (const node of nodes) {
          expect(node.comments.nodes).toHaveLength(Math.min(5, node.commentCount));
          counts.add(node.commentCount);
        }
      }
      expect(counts.has(0)).toBe(reviewsWithoutComments);
      expect([...counts].some((count) => count > 0)).toBe(true);
    } finally {
      close();
    }
  });
});
