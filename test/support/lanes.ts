import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { fastLane } from '../../src/http/fast-lane.ts';
import { mutationLane } from '../../src/http/mutation-lane.ts';
import { type AppOptions, type LaneChecks, laneChecks, requestRules } from '../../src/http/request-rules.ts';
import { yogaOf } from '../../src/http/yoga.ts';
import { schema } from '../../src/schema/index.ts';
import { testConfig } from './app.ts';

/** What became of one request the lanes were given: answered there, or handed to Yoga. */
export type Decision =
  | { by: 'lane'; status: number; headers: Record<string, string | number>; body: string }
  | { by: 'yoga'; body: string | undefined };

export interface LaneRequestInit {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  /** The JSON body, or text sent as it is. */
  body?: unknown;
}

/**
 * The pieces createApp composes, over an in-memory database, with no socket: the request rules,
 * Yoga over their plugins (`yoga.fetch`, to run a document once so the lanes know it), and the
 * lanes over their checks. `decide` gives the lanes one request, as node:http would with the
 * body already read (as a read worker hands one over), and says who answered it. `wrap` sees
 * the checks before the lanes are built (a recording proxy, in the rules' test).
 */
export function laneHarness(
  overrides: Partial<Config> = {},
  wrap: (checks: LaneChecks) => LaneChecks = (checks) => checks,
) {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const options: AppOptions = { db, config: { ...testConfig, fastReads: true, ...overrides } };
  const rules = requestRules(options);
  const yoga = yogaOf(rules, options);
  const checks = laneChecks(rules, options.config);
  if (!checks) throw new Error('the lanes are off with these settings');
  const wrapped = wrap(checks);
  const lane = fastLane({
    schema,
    endpoint: '/graphql',
    checks: wrapped,
    mutations: mutationLane({ schema, checks: wrapped }),
  });

  /** One POST through Yoga alone, as the app's fetch would take it. */
  const throughYoga = async (body: unknown, token?: string) => {
    const response = await yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.text() };
  };

  const decide = ({ method = 'POST', url = '/graphql', headers = {}, body = '' }: LaneRequestInit) =>
    new Promise<Decision>((resolve, reject) => {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      const bytes = Buffer.from(text);
      const req = Object.assign(new EventEmitter(), {
        method,
        url,
        headers: { 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers },
        body: bytes,
        socket: { remoteAddress: '127.0.0.1' },
      });
      const written: Buffer[] = [];
      let head: { status: number; headers: Record<string, string | number> } | null = null;
      const res = {
        headersSent: false,
        writeHead(status: number, headers: Record<string, string | number>) {
          head = { status, headers };
          this.headersSent = true;
          return this;
        },
        cork() {},
        write(chunk: Buffer | string) {
          written.push(Buffer.from(chunk));
          return true;
        },
        end(chunk?: Buffer | string) {
          if (chunk !== undefined) written.push(Buffer.from(chunk));
          if (!head) return reject(new Error('ended without a head'));
          resolve({ by: 'lane', ...head, body: Buffer.concat(written).toString() });
        },
        destroy: () => reject(new Error('the lane destroyed the response')),
      };
      const toYoga = (handed: IncomingMessage) => {
        const read = (handed as IncomingMessage & { body?: Buffer }).body;
        resolve({ by: 'yoga', body: read?.toString() });
      };
      lane(req as unknown as IncomingMessage, res as unknown as ServerResponse, toYoga);
    });

  return { db, rules, checks, throughYoga, decide };
}
