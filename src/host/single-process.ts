import type { Host } from './host.ts';
import { SubscriptionSeats } from './subscription-seats.ts';

/**
 * A process that serves alone (WORKERS=1, and every app a test builds): each app has its own
 * events, registry, cache and places, and there is no other process to tell anything.
 */
export const singleProcess: Host = {
  reviewEvents: () => new EventTarget(),
  shareMetrics: () => {},
  responseCache: (cache) => cache,
  subscriptionSeats: (limits) => new SubscriptionSeats(limits.maxSubscriptions, limits.maxSubscriptionsPerAddress),
  appServed: () => {},
  fileSharers: undefined,
  attach: async (app) => ({ handler: app, close: async () => {} }),
};
