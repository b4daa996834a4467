import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { READY_PATH } from '../../src/http/routes.ts';

// The proxy configuration cannot import src/http/routes.ts: it spells the path again.
it("checks nodes through the service's readiness path in deploy/haproxy.cfg", () => {
  const haproxy = readFileSync(new URL('../../deploy/haproxy.cfg', import.meta.url), 'utf8');
  expect(haproxy).toContain(`option httpchk GET ${READY_PATH}\n`);
});
