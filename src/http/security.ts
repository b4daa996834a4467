import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { clientAddressOf } from './client-address.ts';
import { useCsrfPrevention } from './csrf.ts';
import { type LimitConfig, queryLimitPlugins } from './limits.ts';
import { type RateLimitConfig, useMutationRateLimit } from './rate-limit.ts';
import { type SubscriptionLimitConfig, useSubscriptionLimits } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig &
  RateLimitConfig &
  SubscriptionLimitConfig &
  Pick<Config, 'graphiql' | 'trustedProxies'>;

/**
 * Every defence on /graphql, in one list for createApp (SECURITY.md explains each):
 * CSRF prevention, the document limits, and the mutation rate limits.
 */
export function securityPlugins(config: SecurityConfig): Plugin[] {
  const clientAddress = clientAddressOf(config.trustedProxies);
  return [
    useCsrfPrevention(),
    ...queryLimitPlugins(config),
    ...(config.rateLimit ? [useMutationRateLimit(config, clientAddress)] : []),
    // Live streams held open per address and in all (429 beyond), and ended when idle.
    useSubscriptionLimits(config, clientAddress),
  ];
}
