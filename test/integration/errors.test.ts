import { describe, expect, it } from 'vitest';
import { createTestApp } from '../support/app.ts';
import { aReview } from '../support/fixtures.ts';

describe('unexpected errors', () => {
  it('are masked: no message, stack or SQL reaches the client', async () => {
    const t = createTestApp();
    aReview(t.db);
    t.db.$client.close();
    const response = await t.gql('{ reviews { nodes { title } } }');
    expect(response.errors).toEqual([
      expect.objectContaining({ message: 'Unexpected error.', extensions: { code: 'INTERNAL_SERVER_ERROR' } }),
    ]);
    expect(JSON.stringify(response)).not.toMatch(/select|sqlite|database|stack|at /i);
  });
});

describe('/ready', () => {
  it('is 200 with the node state while the database is usable, 503 once it is not', async () => {
    const t = createTestApp();
    const ready = await t.app.fetch('http://localhost/ready');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', database: 'ok', role: 'primary', writable: true });
    t.db.$client.close();
    const broken = await t.app.fetch('http://localhost/ready');
    expect(broken.status).toBe(503);
    expect(await broken.json()).toMatchObject({ status: 'not ready' });
  });

  it('says why a read-only node refuses writes', async () => {
    const t = createTestApp({ node: { whyReadOnly: () => 'lease lost', describe: () => ({ role: 'standby' }) } });
    const body = await (await t.app.fetch('http://localhost/ready')).json();
    expect(body).toMatchObject({ role: 'standby', writable: false, readOnlyReason: 'lease lost' });
  });
});
