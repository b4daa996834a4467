import { clientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import type { LimitConfig } from './limits.ts';
import { type MutationRateLimit, mutationRateLimit, type RateLimitConfig } from './rate-limit.ts';
import type { SubscriptionLimitConfig } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig &
  RateLimitConfig &
  SubscriptionLimitConfig &
  Pick<Config, 'graphiql' | 'trustedProxies'>;

/** RATE_LIMIT=on: the mutation rate limits, by client address as TRUSTED_PROXIES tells it. */
export function rateLimitOf(config: SecurityConfig): MutationRateLimit | null {
  return config.rateLimit ? mutationRateLimit(config, clientAddressOf(config.trustedProxies)) : null;
}
