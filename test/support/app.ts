import { signingKey, signToken } from '../../src/auth.ts';
import { loadConfig } from '../../src/config.ts';
import { type NodeState, standalonePrimary } from '../../src/context.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';

export const testConfig = (() => {
  const result = loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: 'test-secret-that-is-at-least-32-characters-long',
    // Suites make many mutations; the limits have their own tests (test/security).
    RATE_LIMIT: 'off',
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
})();

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string } & Record<string, unknown> }[];
}

/**
 * A fresh in-memory database with migrations applied, and the app over it. Every test builds
 * its own: no test depends on another's rows. `statements` records every SQL statement Drizzle
 * runs, so a test can count them.
 */
export function createTestApp(options: { node?: NodeState } = {}) {
  const statements: string[] = [];
  const db = openDatabase(':memory:', { logger: { logQuery: (query) => statements.push(query) } });
  applyMigrations(db);
  statements.length = 0;
  const app = createApp({ db, config: testConfig, node: options.node ?? standalonePrimary });

  // biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape; the schema is type-checked itself.
  async function gql<T = Record<string, any>>(
    query: string,
    variables: Record<string, unknown> = {},
    token?: string,
  ): Promise<GraphQLResponse<T>> {
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token && { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status' | 'headers'>;
    return { status: response.status, headers: response.headers, ...body };
  }

  return { app, db, statements, gql };
}

export type TestApp = ReturnType<typeof createTestApp>;

export async function tokenFor(userId: string, options: { name?: string; roles?: string[]; expiresIn?: string } = {}) {
  return signToken({ userId, ...options }, await signingKey(testConfig.jwtSecret));
}

/** The single error code of a response that must have failed. */
export function errorCode(response: GraphQLResponse): string | undefined {
  if (!response.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(response.data)}`);
  return response.errors[0]?.extensions?.code;
}

/** The data of a response that must have succeeded. */
export function dataOf<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || !response.data) {
    throw new Error(`expected data, got ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

/** The cast most tests need: two ordinary users and a moderator, each with a token. */
export async function signedInUsers() {
  return {
    alice: await tokenFor('alice', { name: 'Alice' }),
    bob: await tokenFor('bob', { name: 'Bob' }),
    moderator: await tokenFor('mod', { name: 'Mo', roles: ['moderator'] }),
  };
}
