import { describe, expect, it } from 'vitest';
import { ErrorCode, httpOf, refusal } from '../../src/errors.ts';

describe('refusals: one rule for the status and Retry-After of each code', () => {
  it('sends READ_ONLY and NOT_REPLICATED elsewhere at once: 503, Retry-After 1', () => {
    expect(httpOf(ErrorCode.READ_ONLY)).toEqual({ status: 503, headers: { 'Retry-After': '1' } });
    expect(httpOf(ErrorCode.NOT_REPLICATED)).toEqual({ status: 503, headers: { 'Retry-After': '1' } });
  });

  it('tells a rate-limited client how long to wait', () => {
    const error = refusal(ErrorCode.RATE_LIMITED, 'slow down', { retryAfterSeconds: 42 });
    expect(error.extensions).toEqual({
      code: 'RATE_LIMITED',
      http: { status: 429, headers: { 'Retry-After': '42' } },
    });
  });

  it('gives a request error its status without a Retry-After', () => {
    expect(httpOf(ErrorCode.NOT_FOUND)).toEqual({ status: 404 });
  });
});
