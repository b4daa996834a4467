import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { printSortedSchema } from '../../src/schema/index.ts';

it('schema.graphql is the schema the code builds (run `npm run schema:print` after a change)', () => {
  const committed = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8');
  expect(committed).toBe(printSortedSchema());
});
