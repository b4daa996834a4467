import type { Config } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { type ClientTimeouts, listen } from '../../src/http/server.ts';
import { createApp } from '../../src/http/yoga.ts';
import type { Logger } from '../../src/logger.ts';
import { type GraphQLResponse, testConfig } from '../support/app.ts';

/**
 * The app over real HTTP on an ephemeral loopback port, with the security defaults on
 * (unlike createTestApp, whose suites turn the rate limit off). `overrides` changes limits.
 */
export async function serveApp(
  overrides: Partial<Config> = {},
  databasePath = ':memory:',
  { logger, timeouts }: { logger?: Logger; timeouts?: ClientTimeouts } = {},
) {
  const db = openDatabase(databasePath);
  applyMigrations(db);
  const app = createApp({ db, config: { ...testConfig, rateLimit: true, ...overrides }, logger });
  const running = await listen(app.handle, { port: 0, host: '127.0.0.1' }, { ...(timeouts && { timeouts }) });
  const close = async () => {
    await running.close();
    db.$client.close();
  };
  return { db, url: `${running.url}/graphql`, close };
}

export interface Post {
  token?: string;
  headers?: Record<string, string>;
}

/** An answer; to a batch (a JSON array body), the answers of its operations in `batch`. */
// biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape; the schema is type-checked itself.
export type Answer = GraphQLResponse<Record<string, any>> & { batch?: Omit<GraphQLResponse, 'status' | 'headers'>[] };

/** One GraphQL POST with a JSON body, as any non-browser client sends it. */
export async function post(url: string, body: unknown, { token, headers = {} }: Post = {}): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token && { authorization: `Bearer ${token}` }),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  const answer = parsed(text);
  return {
    status: response.status,
    headers: response.headers,
    ...(Array.isArray(answer) ? { batch: answer } : answer),
  };
}

function parsed(text: string) {
  try {
    return JSON.parse(text) as
      | Omit<GraphQLResponse, 'status' | 'headers'>
      | Omit<GraphQLResponse, 'status' | 'headers'>[];
  } catch {
    return { errors: [{ message: `not JSON: ${text.slice(0, 200)}` }] };
  }
}
