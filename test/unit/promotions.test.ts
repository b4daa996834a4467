import { describe, expect, it } from 'vitest';
import { parseSize } from '../../drill/seeded-database.ts';
import { PromotionHistory } from '../../src/failover/promotions.ts';

const attempt = (error: string) => ({ term: 2, at: new Date().toISOString(), durationMs: 10, steps: {}, error });

describe('PromotionHistory', () => {
  it('waits twice as long after each failure of its own, up to 30 s, and starts over once promoted', () => {
    const history = new PromotionHistory(500);
    const delays = Array.from({ length: 8 }, () =>
      history.failure(attempt('replica unreadable'), { lostToAnother: false }),
    );
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    expect(history.mayAttempt(performance.now())).toBe(false);
    history.promoted({ term: 3, at: new Date().toISOString(), durationMs: 10, steps: {} });
    expect(history.failure(attempt('again'), { lostToAnother: false })).toBe(500);
    expect(history.describe()).toMatchObject({
      failed: 9,
      last: { outcome: 'failed', error: 'again' },
      nextAttemptAt: expect.any(String),
    });
  });

  it('retries at the usual pace when another node took the lease', () => {
    const history = new PromotionHistory(500);
    history.failure(attempt('damaged'), { lostToAnother: false });
    history.failure(attempt('damaged'), { lostToAnother: false });
    expect(history.failure(attempt('lease lost'), { lostToAnother: true })).toBe(500);
  });
});

describe('drill --db-size', () => {
  it('reads decimal sizes and refuses anything else with the accepted form', () => {
    expect([parseSize('10MB'), parseSize('100mb'), parseSize('1GB'), parseSize('2.5GB')]).toEqual([
      10e6, 100e6, 1e9, 2.5e9,
    ]);
    expect(() => parseSize('1 TB')).toThrow(/use e.g. 10MB, 100MB, 1GB/);
    expect(() => parseSize('100KB')).toThrow(/at least 1MB/);
  });
});
