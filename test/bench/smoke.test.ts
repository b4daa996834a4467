import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/run.ts';
import { SCENARIO_NAMES } from '../../bench/scenarios.ts';

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
