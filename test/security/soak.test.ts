import { expect, it } from 'vitest';
import { DEFAULT_SOAK, formatReport, runSoak } from '../../soak/soak.ts';

/**
 * `npm run soak` in CI, short: a real `serve` process under concurrent reads and writes over
 * loopback HTTP. Every answer below 500, every acknowledged write in the database exactly once,
 * nothing written unacknowledged, memory flat after warm-up.
 */
it('survives a short soak with nothing lost, duplicated or failed', { timeout: 120_000 }, async () => {
  const report = await runSoak({ ...DEFAULT_SOAK, durationMs: 8_000, clients: 8 });
  expect(report.failures, formatReport(report)).toEqual([]);
  expect(report.serverErrors).toBe(0);
  expect(report.writes.acknowledged).toBeGreaterThan(50);
  expect(report.reads).toBeGreaterThan(100);
  expect([report.lostWrites, report.duplicatedWrites, report.unacknowledgedRows, report.lostUpdates]).toEqual([
    0, 0, 0, 0,
  ]);
  expect(report.integrity).toBe('ok');
});
