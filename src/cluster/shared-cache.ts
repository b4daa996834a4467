import type { Cache } from '@graphql-yoga/plugin-response-cache';
import type { SupervisorChannel } from './ipc.ts';
import type { InvalidateMessage } from './messages.ts';

/**
 * RESPONSE_CACHE=on on a host of several processes: each has its own cache, and a write (on
 * the writer) must drop the entries it touched from all of them, not from the writer's alone.
 */
export function invalidatedAcrossHost(cache: Cache, channel: SupervisorChannel): Cache {
  channel.on('cluster:invalidate', ({ entities }) => void cache.invalidate(entities));
  return {
    get: (key) => cache.get(key),
    set: (...args) => cache.set(...args),
    invalidate(entities) {
      const list: InvalidateMessage['entities'] = [...entities].map(({ typename, id }) => ({
        typename,
        ...(id !== undefined && { id }),
      }));
      channel.tell({ type: 'cluster:invalidate', entities: list });
      return cache.invalidate(list);
    },
  };
}
