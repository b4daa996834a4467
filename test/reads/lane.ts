import { Writable } from 'node:stream';
import pino from 'pino';
import type { Config } from '../../src/config.ts';
import type { NodeState } from '../../src/context.ts';
import type { Db } from '../../src/db/client.ts';
import { listen } from '../../src/http/server.ts';
import { createApp } from '../../src/http/yoga.ts';
import { testConfig } from '../support/app.ts';

/** What a client sees of an answer: its status, body bytes, and the headers it acts on. */
export interface Seen {
  status: number;
  body: string;
  headers: Record<string, string | null>;
}

const HEADERS = [
  'content-type',
  'cache-control',
  'etag',
  'vary',
  'retry-after',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-expose-headers',
];

export interface LaneRequest {
  /** The JSON body, or text sent as it is. */
  body: unknown;
  token?: string;
  headers?: Record<string, string>;
}

/**
 * One app over real HTTP on loopback, with its requests' read paths logged. `overHttp` sends a
 * request through node:http (where the fast lane is), `throughYoga` the same request to the
 * app's fetch (Yoga alone); `laneAnswers` counts the answers the lane gave to queries,
 * `laneWrites` to mutations. `overrides` as createApp takes them (the security defaults stay
 * as testConfig has them).
 */
export async function servedWithLane(db: Db, overrides: Partial<Config> = {}, { node }: { node?: NodeState } = {}) {
  let laneAnswers = 0;
  let laneWrites = 0;
  const requestLines: Record<string, unknown>[] = [];
  const lines = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; lane?: boolean };
        if (entry.msg === 'read path' && entry.lane) laneAnswers++;
        if (entry.msg === 'write path' && entry.lane) laneWrites++;
        if (entry.msg === 'request') requestLines.push(entry);
      }
      done();
    },
  });
  const logger = pino({ level: 'debug' }, lines);
  const app = createApp({ db, config: { ...testConfig, fastReads: true, ...overrides }, logger, node });
  const running = await listen(app.handle, { port: 0, host: '127.0.0.1' });
  const url = `${running.url}/graphql`;

  const init = ({ body, token, headers = {} }: LaneRequest): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const seen = async (response: Response): Promise<Seen> => ({
    status: response.status,
    body: await response.text(),
    headers: Object.fromEntries(HEADERS.map((name) => [name, response.headers.get(name)])),
  });

  return {
    url,
    app,
    /** The request log's lines so far. */
    requestLines,
    overHttp: async (request: LaneRequest) => seen(await fetch(url, init(request))),
    throughYoga: async (request: LaneRequest) => seen(await app.fetch('http://localhost/graphql', init(request))),
    /** How many answers the lane gave so far (pino writes asynchronously: its lines are awaited). */
    async laneAnswers() {
      await new Promise((resolve) => setImmediate(resolve));
      return laneAnswers;
    },
    async laneWrites() {
      await new Promise((resolve) => setImmediate(resolve));
      return laneWrites;
    },
    close: () => running.close(),
  };
}
