import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.ts';
import { type NodeState, standalonePrimary } from '../../src/context.ts';
import { openDatabase } from '../../src/db/client.ts';
import { applyMigrations } from '../../src/db/migrate.ts';
import { createApp } from '../../src/http/yoga.ts';
import { testConfig, tokenFor } from '../support/app.ts';

/**
 * The mutation path of DURABILITY=replicated, in process: when it waits, and what it answers
 * when the node cannot confirm. The node's confirmWrites is the seam; the real one (Litestream
 * and its replica) is tested in replicated.test.ts.
 */

/** A node whose confirmations the test hands out one by one. */
function confirmingNode() {
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const node: NodeState = {
    ...standalonePrimary,
    confirmWrites: () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject })),
  };
  return { node, pending };
}

function appFor(node: NodeState, durability: Config['durability'] = 'replicated') {
  const db = openDatabase(':memory:');
  applyMigrations(db);
  const app = createApp({ db, config: { ...testConfig, durability }, node });
  return { app, db };
}

const CREATE = `mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id title } } }`;

async function post(app: ReturnType<typeof appFor>['app'], query: string, variables = {}, token?: string) {
  const response = await app.fetch('http://localhost/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query, variables }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read responses by shape.
  return { status: response.status, body: (await response.json()) as any };
}

const input = (subject: string) => ({ input: { subject, rating: 5, title: 'Good', body: 'Really.' } });
/** Waits (bounded) until the mutation has reached the node's confirmation. */
async function confirmationAsked(pending: unknown[]) {
  for (let waited = 0; pending.length === 0 && waited < 10_000; waited += 10) {
    await new Promise((done) => setTimeout(done, 10));
  }
  expect(pending).toHaveLength(1);
}

describe('DURABILITY=replicated on the mutation path', () => {
  it('answers a mutation only once the node confirms its write', async () => {
    const { node, pending } = confirmingNode();
    const { app, db } = appFor(node);
    let answered = false;
    const answer = post(app, CREATE, input('kettle'), await tokenFor('alice')).then((result) => {
      answered = true;
      return result;
    });
    await confirmationAsked(pending);
    // Committed locally already; the client has not been told.
    expect(db.$client.prepare('select count(*) as n from reviews').get()).toEqual({ n: 1 });
    expect(answered).toBe(false);
    pending[0]?.resolve();
    expect(await answer).toMatchObject({
      status: 200,
      body: { data: { createReview: { review: { title: 'Good' } } } },
    });
  });

  it('answers NOT_REPLICATED with 503 when the node cannot confirm, never the payload', async () => {
    const { node, pending } = confirmingNode();
    const { app } = appFor(node);
    const answer = post(app, CREATE, input('kettle'), await tokenFor('alice'));
    await confirmationAsked(pending);
    pending[0]?.reject(new Error('the replica did not confirm it within 5000 ms'));
    const { status, body } = await answer;
    expect(status).toBe(503);
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions.code).toBe('NOT_REPLICATED');
    expect(body.errors[0].message).toMatch(/committed on this node but not confirmed in the replica/);
  });

  it('does not vouch for a write confirmed after the node lost the right to write (a lease that ran out)', async () => {
    const { node, pending } = confirmingNode();
    let readOnly: string | null = null;
    const { app } = appFor({ ...node, whyReadOnly: () => readOnly });
    const answer = post(app, CREATE, input('kettle'), await tokenFor('alice'));
    await confirmationAsked(pending);
    readOnly = 'lease lost: writes refused from now on';
    pending[0]?.resolve();
    const { status, body } = await answer;
    expect(status).toBe(503);
    expect(body.errors[0].extensions.code).toBe('NOT_REPLICATED');
    expect(body.errors[0].message).toMatch(/lease lost/);
  });

  it('holds REST writes to the same rule', async () => {
    const { node, pending } = confirmingNode();
    const { app } = appFor(node);
    const answer = app.fetch('http://localhost/api/reviews', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('alice')}` },
      body: JSON.stringify(input('grinder').input),
    });
    await confirmationAsked(pending);
    pending[0]?.reject(new Error('stalled'));
    const response = await answer;
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_REPLICATED' } }] });
  });

  it('does not wait for queries, nor for mutations refused before they wrote', async () => {
    const { node, pending } = confirmingNode();
    const { app } = appFor(node);
    const read = await post(app, '{ reviews(first: 1) { totalCount } }');
    expect(read.body).toEqual({ data: { reviews: { totalCount: 0 } } });
    const refused = await post(app, CREATE, input('kettle'));
    expect(refused.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect(pending).toHaveLength(0);
  });

  it('refuses to acknowledge on a node that cannot confirm replication', async () => {
    const { app } = appFor(standalonePrimary);
    const { status, body } = await post(app, CREATE, input('kettle'), await tokenFor('alice'));
    expect(status).toBe(503);
    expect(body.errors[0].extensions.code).toBe('NOT_REPLICATED');
  });

  it('does not wait at all with DURABILITY=local', async () => {
    const { node, pending } = confirmingNode();
    const { app } = appFor(node, 'local');
    const { body } = await post(app, CREATE, input('kettle'), await tokenFor('alice'));
    expect(body.data.createReview.review.title).toBe('Good');
    expect(pending).toHaveLength(0);
  });
});
