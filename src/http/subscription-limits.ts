import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import type { ClientAddressOf } from '../client-address.ts';
import type { Config } from '../config.ts';
import { ErrorCode, refusal } from '../errors.ts';
import type { Seats } from '../host/host.ts';

export type SubscriptionLimitConfig = Pick<
  Config,
  'maxSubscriptions' | 'maxSubscriptionsPerAddress' | 'subscriptionIdleMs'
>;

/** What a refused subscriber is told to wait: streams end by themselves within the idle bound. */
const RETRY_AFTER_SECONDS = 30;

/**
 * Bounds on live subscriptions: each is a stream held open and a selection run on every event,
 * so 4,000 from one address were 4,000 queries per write. At most MAX_SUBSCRIPTIONS at once,
 * MAX_SUBSCRIPTIONS_PER_ADDRESS of them from one client address (behind a load balancer, the
 * one it forwards, with TRUSTED_PROXIES); more are refused with 429 and Retry-After.
 * Counted for the whole host: with WORKERS > 1 the supervisor keeps the counts (connections
 * land on any process, so per-process counts multiplied both bounds by WORKERS).
 * A stream that has delivered nothing for SUBSCRIPTION_IDLE_MS ends, and frees its place.
 * Their selections are costed like queries, at a smaller bound (src/http/limits.ts).
 */
export function useSubscriptionLimits(
  limits: SubscriptionLimitConfig,
  clientAddress: ClientAddressOf,
  /** The host's (src/host/host.ts): with WORKERS > 1 the supervisor keeps the counts. */
  seats: Seats,
): Plugin {
  return {
    async onSubscribe({ args, setResultAndStopExecution }) {
      const address = clientAddress((args.contextValue as { req?: IncomingMessage }).req);
      if (!(await seats.take(address))) {
        setResultAndStopExecution({ errors: [tooManySubscriptions()] });
        return;
      }
      let held = true;
      const release = () => {
        if (!held) return;
        held = false;
        seats.give(address);
      };
      return {
        onSubscribeResult({ result, setResult }) {
          if (!(Symbol.asyncIterator in result)) return release();
          setResult(endingWhenIdle(result, limits.subscriptionIdleMs, release));
        },
        onSubscribeError: release,
      };
    },
  };
}

function tooManySubscriptions() {
  return refusal(ErrorCode.RATE_LIMITED, 'Too many open subscriptions; try again later', {
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  });
}

/**
 * `source`, ended once it has yielded nothing for `idleMs`, and `onEnd` called exactly once
 * however it ends (idle, done, or the client gone). A plain iterator, not an async generator:
 * a generator's return() would wait for the pending next() — the next event, maybe never.
 */
export function endingWhenIdle<T>(
  source: AsyncIterable<T>,
  idleMs: number,
  onEnd: () => void,
): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]();
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = async (): Promise<IteratorReturnResult<undefined>> => {
    if (!finished) {
      finished = true;
      clearTimeout(timer);
      onEnd();
      await inner.return?.();
    }
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    async next() {
      if (finished) return { done: true, value: undefined };
      const idle = new Promise<'idle'>((resolve) => {
        timer = setTimeout(resolve, idleMs, 'idle');
      });
      const next = await Promise.race([inner.next(), idle]);
      clearTimeout(timer);
      if (next === 'idle' || next.done) return finish();
      return next;
    },
    return: finish,
    async throw(error: unknown) {
      await finish();
      throw error;
    },
  };
  return iterator;
}
