import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { type LimitConfig, queryLimitPlugins } from './limits.ts';
import { type RateLimitConfig, useMutationRateLimit } from './rate-limit.ts';
import { type SubscriptionLimitConfig, useSubscriptionLimits } from './subscription-limits.ts';

export type SecurityConfig = LimitConfig & RateLimitConfig & SubscriptionLimitConfig & Pick<Config, 'graphiql'>;

/** The header a GET request must carry; POSTs with a JSON body need nothing extra. */
export const CSRF_HEADER = 'x-graphql-yoga-csrf';

/**
 * Every defence on /graphql, in one list for createApp (SECURITY.md explains each):
 * CSRF prevention, the document limits, and the mutation rate limits.
 */
export function securityPlugins(config: SecurityConfig): Plugin[] {
  return [
    // A browser sends a cross-site GET or form POST without a preflight; requiring a custom
    // header (or a JSON content type, which forces a preflight) stops it from riding along.
    useCSRFPrevention({ requestHeaders: [CSRF_HEADER] }),
    ...queryLimitPlugins(config),
    ...(config.rateLimit ? [useMutationRateLimit(config)] : []),
    // Live streams held open per address and in all (429 beyond), and ended when idle.
    useSubscriptionLimits(config),
  ];
}
