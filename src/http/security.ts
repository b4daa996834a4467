import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { useCsrfPrevention } from './csrf.ts';
import { type LimitConfig, queryLimitPlugins } from './limits.ts';
import { type RateLimitConfig, useMutationRateLimit } from './rate-limit.ts';
import { type SubscriptionLimitConfig, useSubscriptionLimits } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig & RateLimitConfig & SubscriptionLimitConfig & Pick<Config, 'graphiql'>;

/**
 * Every defence on /graphql, in one list for createApp (SECURITY.md explains each):
 * CSRF prevention, the document limits, and the mutation rate limits.
 */
export function securityPlugins(config: SecurityConfig): Plugin[] {
  return [
    useCsrfPrevention(),
    ...queryLimitPlugins(config),
    ...(config.rateLimit ? [useMutationRateLimit(config)] : []),
    // Live streams held open per address and in all (429 beyond), and ended when idle.
    useSubscriptionLimits(config),
  ];
}
