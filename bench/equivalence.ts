import Database from 'better-sqlite3';
import { limitHandlers } from './limit/handlers.ts';
import { rowIdOf, type Scenario } from './scenarios.ts';

/** One POST to a GraphQL endpoint; the body's exact bytes. */
export async function post(url: string, body: unknown, token?: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

/**
 * Refuses to measure a scenario unless the limit answers with the service's exact bytes.
 * Reads: both servers answer the same request. The mutation: the service writes a comment,
 * and the limit renders that same row; the two must be identical.
 */
export async function assertEquivalent(
  scenario: Scenario,
  serviceUrl: string,
  limitUrl: string,
  databasePath: string,
  token: string,
): Promise<number> {
  const body = scenario.body(0);
  const service = await post(serviceUrl, body, token);
  if (service.status !== 200)
    throw new Error(`${scenario.name}: the service answered ${service.status}: ${service.text}`);
  let expected: string;
  if (scenario.write) {
    const id = (JSON.parse(service.text) as { data?: { addComment?: { comment?: { id?: string } } } }).data?.addComment
      ?.comment?.id;
    if (!id) throw new Error(`${scenario.name}: no comment id in ${service.text}`);
    const db = new Database(databasePath, { readonly: true });
    try {
      expected = limitHandlers(db).renderComment(rowIdOf(id));
    } finally {
      db.close();
    }
  } else {
    expected = (await post(limitUrl, body)).text;
  }
  if (expected !== service.text) {
    throw new Error(
      `${scenario.name}: the limit's answer differs from the service's\nservice: ${service.text}\nlimit:   ${expected}`,
    );
  }
  return Buffer.byteLength(service.text);
}
