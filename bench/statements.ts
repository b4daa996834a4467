import { signingKey, signToken } from '../src/auth.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { createApp } from '../src/http/yoga.ts';
import type { DatasetSize } from './dataset.ts';
import { type Scenario, type ScenarioName, scenarios } from './scenarios.ts';

export interface StatementCount {
  scenario: ScenarioName;
  /** The page query's page size; null for the other scenarios. */
  pageSize: number | null;
  statements: number;
}

/** Page sizes the page query is counted at: the count must not grow with them. */
export const PAGE_SIZES = [5, 20, 50];

/**
 * SQL statements per request, from Drizzle's logger: the app runs in this process once per
 * scenario over a copy of the benchmark database. (Drizzle logs queries, not BEGIN/COMMIT.)
 */
export async function countStatements(databasePath: string, size: DatasetSize, jwtSecret: string) {
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: jwtSecret, RATE_LIMIT: 'off', LOG_LEVEL: 'silent' });
  if (!config.ok) throw new Error(config.errors.join('; '));
  const statements: string[] = [];
  const db = openDatabase(databasePath, { logger: { logQuery: (query) => statements.push(query) } });
  const app = createApp({ db, config: config.config });
  const token = await signToken({ userId: 'bench-writer', name: 'Bench Writer' }, await signingKey(jwtSecret));
  const counts: StatementCount[] = [];
  try {
    const requests = [
      ...PAGE_SIZES.map((pageSize) => scenarios(size, pageSize)[0] as Scenario),
      ...scenarios(size).slice(1),
    ];
    for (const scenario of requests) {
      statements.length = 0;
      const response = await app.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(scenario.write && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(scenario.body(0)),
      });
      const body = (await response.json()) as { errors?: unknown };
      if (body.errors) throw new Error(`${scenario.name} failed in-process: ${JSON.stringify(body.errors)}`);
      counts.push({
        scenario: scenario.name,
        pageSize: scenario.name === 'page' ? Number(scenario.body(0).variables.first) : null,
        statements: statements.length,
      });
    }
  } finally {
    db.$client.close();
  }
  return counts;
}
