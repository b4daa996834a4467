import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { clientAddressOf } from './client-address.ts';
import { useCsrfPrevention } from './csrf.ts';
import { type CostLimit, costLimit, type LimitConfig, queryLimitPlugins } from './limits.ts';
import { type RateLimitConfig, useMutationRateLimit } from './rate-limit.ts';
import { type SubscriptionLimitConfig, useSubscriptionLimits } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig &
  RateLimitConfig &
  SubscriptionLimitConfig &
  Pick<Config, 'graphiql' | 'trustedProxies'>;

/**
 * Every defence on /graphql, in one list for createApp (SECURITY.md explains each):
 * CSRF prevention, the document limits, and the mutation rate limits. `cost` is shared with
 * the fast lane, which weighs the documents it runs on the same budget.
 */
export function securityPlugins(config: SecurityConfig, cost: CostLimit = costLimit(config.maxCost)): Plugin[] {
  const clientAddress = clientAddressOf(config.trustedProxies);
  return [
    useCsrfPrevention(),
    ...queryLimitPlugins(config, cost),
    ...(config.rateLimit ? [useMutationRateLimit(config, clientAddress)] : []),
    // Live streams held open per address and in all (429 beyond), and ended when idle.
    useSubscriptionLimits(config, clientAddress),
  ];
}
