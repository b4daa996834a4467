import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewsClient, reviewAndList } from '../../examples/client/src/client.ts';
import { aliceToken, type Served, serve } from './served.ts';

describe('the typed client example (examples/client)', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve();
  });
  afterAll(() => served.close());

  it('writes and reads through its schema-typed documents over HTTP', async () => {
    const client = new ReviewsClient(`${served.origin}/graphql`, await aliceToken());
    const result = await reviewAndList(client, { subject: 'milk-frother', rating: 3, title: 'Foamy', body: 'Loud.' });
    expect(result.created).toMatchObject({ version: 1, subject: 'milk-frother' });
    expect(result.total).toBe(1);
    expect(result.titles).toEqual(['Foamy (3/5) by Alice']);
  });

  it('reports the error code of a refused request', async () => {
    const anonymous = new ReviewsClient(`${served.origin}/graphql`);
    await expect(
      reviewAndList(anonymous, { subject: 'milk-frother', rating: 3, title: 'Foamy', body: 'Loud.' }),
    ).rejects.toThrow(/^UNAUTHENTICATED: /);
  });
});
