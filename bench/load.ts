import autocannon from 'autocannon';
import type { Scenario } from './scenarios.ts';

export interface LoadResult {
  /** Requests per second, averaged over the run's one-second samples. */
  rps: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  requests: number;
  /** Connection errors, timeouts and non-2xx answers: a run with any is reported, not hidden. */
  failures: number;
}

export interface LoadOptions {
  url: string;
  scenario: Scenario;
  connections: number;
  durationSeconds: number;
  token?: string;
  /** Called about once a second with the requests done so far. */
  onTick?: (requests: number) => void;
}

/** Runs autocannon against one endpoint over loopback HTTP and keeps the figures the bench reports. */
export async function runLoad({ url, scenario, connections, durationSeconds, token, onTick }: LoadOptions) {
  let sent = 0;
  let done = 0;
  const ticker = setInterval(() => onTick?.(done), 1000);
  try {
    const result = await new Promise<autocannon.Result>((resolve, reject) => {
      const instance = autocannon(
        {
          url,
          connections,
          duration: durationSeconds,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            // Reads go anonymous, as the limit's do: verifying a token is part of a write's cost only.
            ...(token && scenario.write && { authorization: `Bearer ${token}` }),
          },
          requests: [{ setupRequest: (request) => ({ ...request, body: JSON.stringify(scenario.body(sent++)) }) }],
        },
        (error, result) => (error ? reject(error) : resolve(result)),
      );
      instance.on('response', () => {
        done++;
      });
    });
    return {
      rps: result.requests.average,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      requests: result.requests.total,
      failures: result.errors + result.timeouts + result.non2xx,
    } satisfies LoadResult;
  } finally {
    clearInterval(ticker);
  }
}
