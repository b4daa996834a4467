import type { Cache } from '@graphql-yoga/plugin-response-cache';
import type { SupervisorChannel } from './ipc.ts';
import type { Invalidated } from './messages.ts';

/**
 * RESPONSE_CACHE=on on a host of several processes: each has its own cache, and a write (on
 * the writer) must drop the entries it touched from all of them, not from the writer's alone.
 * `invalidate` resolves once the others said they did (or the supervisor gave up on one), so
 * the write's answer can wait for it: a client's next read, on a kept-alive connection to
 * another process, never finds what the write changed as it was before.
 */
export function invalidatedAcrossHost(cache: Cache, channel: SupervisorChannel): Cache {
  channel.on('cluster:invalidate', ({ id, entities }) => {
    void Promise.resolve(cache.invalidate(entities)).finally(() => channel.tell({ type: 'cluster:invalidated', id }));
  });
  return {
    get: (key) => cache.get(key),
    set: (...args) => cache.set(...args),
    async invalidate(entities) {
      const list: Invalidated = [...entities].map(({ typename, id }) => ({
        typename,
        ...(id !== undefined && { id }),
      }));
      // A supervisor that does not answer in time delays the answer, never fails the write.
      await Promise.all([cache.invalidate(list), channel.invalidated(list).catch(() => false)]);
    },
  };
}
