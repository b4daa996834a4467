import type { Plugin } from 'graphql-yoga';
import { clientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import type { Seats } from '../host/host.ts';
import { useCsrfPrevention } from './csrf.ts';
import { type CostLimit, type LimitConfig, queryLimitPlugins } from './limits.ts';
import { type MutationRateLimit, mutationRateLimit, type RateLimitConfig } from './rate-limit.ts';
import { type SubscriptionLimitConfig, useSubscriptionLimits } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig &
  RateLimitConfig &
  SubscriptionLimitConfig &
  Pick<Config, 'graphiql' | 'trustedProxies'>;

/**
 * Every defence on /graphql, in one list for createApp (SECURITY.md explains each):
 * CSRF prevention, the document limits, and the mutation rate limits. `cost` and `rateLimit`
 * are shared with the fast lane, which weighs and counts what it runs on the same budgets.
 */
export function securityPlugins(
  config: SecurityConfig,
  cost: CostLimit,
  rateLimit: MutationRateLimit | null,
  seats: Seats,
): Plugin[] {
  return [
    useCsrfPrevention(),
    ...queryLimitPlugins(config, cost),
    ...(rateLimit ? [rateLimit.plugin] : []),
    // Live streams held open per address and in all (429 beyond), and ended when idle.
    useSubscriptionLimits(config, clientAddressOf(config.trustedProxies), seats),
  ];
}

/** RATE_LIMIT=on: the mutation rate limits, by client address as TRUSTED_PROXIES tells it. */
export function rateLimitOf(config: SecurityConfig): MutationRateLimit | null {
  return config.rateLimit ? mutationRateLimit(config, clientAddressOf(config.trustedProxies)) : null;
}
