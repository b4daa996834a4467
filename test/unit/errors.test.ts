import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, httpOf, isErrorCode, refusal, refusalResponse } from '../../src/errors.ts';

/** The contract: every code a client may branch on, the status of an answer it refuses, and its Retry-After. */
const CONTRACT: Record<string, { status: number; retryAfter?: string }> = {
  BAD_USER_INPUT: { status: 400 },
  UNAUTHENTICATED: { status: 401 },
  FORBIDDEN: { status: 403 },
  NOT_FOUND: { status: 404 },
  CONFLICT: { status: 409 },
  READ_ONLY: { status: 503, retryAfter: '1' },
  NOT_REPLICATED: { status: 503, retryAfter: '1' },
  RATE_LIMITED: { status: 429, retryAfter: '1' },
  CSRF_HEADER_REQUIRED: { status: 403 },
  QUERY_TOO_COMPLEX: { status: 400 },
  TIMEOUT: { status: 503 },
  BAD_REQUEST: { status: 400 },
  REQUEST_ENTITY_TOO_LARGE: { status: 413 },
  LENGTH_REQUIRED: { status: 411 },
  PERSISTED_QUERY_NOT_IN_LIST: { status: 400 },
  PERSISTED_QUERY_ID_REQUIRED: { status: 400 },
  CANNOT_SEND_PQ_ID_AND_BODY: { status: 400 },
  GRAPHQL_PARSE_FAILED: { status: 400 },
  GRAPHQL_VALIDATION_FAILED: { status: 400 },
};

const SRC = join(import.meta.dirname, '../../src');

/** Every source file under src/ but the table's own, with its path. */
function sources(): { path: string; text: string }[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts') && path !== 'errors.ts')
    .map((path) => ({ path, text: readFileSync(join(SRC, path), 'utf8') }));
}

describe('refusals: one rule for the status and Retry-After of each code', () => {
  it('declares each code of the contract with its status and Retry-After, and no other', () => {
    expect(Object.keys(ErrorCode).sort()).toEqual(Object.keys(CONTRACT).sort());
    for (const [code, { status, retryAfter }] of Object.entries(CONTRACT)) {
      expect([code, httpOf(code as ErrorCode)]).toEqual([
        code,
        { status, ...(retryAfter && { headers: { 'Retry-After': retryAfter } }) },
      ]);
    }
  });

  it('tells a rate-limited client how long to wait', () => {
    const error = refusal(ErrorCode.RATE_LIMITED, 'slow down', { retryAfterSeconds: 42 });
    expect(error.extensions).toEqual({
      code: 'RATE_LIMITED',
      http: { status: 429, headers: { 'Retry-After': '42' } },
    });
  });

  it('answers a refusal outside Yoga in Yoga shape, with its status and Retry-After', async () => {
    const answer = refusalResponse(ErrorCode.READ_ONLY, 'not now');
    expect([answer.status, answer.headers.get('retry-after')]).toEqual([503, '1']);
    expect(await answer.json()).toEqual({ errors: [{ message: 'not now', extensions: { code: 'READ_ONLY' } }] });
  });

  it('knows its codes from anything else', () => {
    expect([isErrorCode('NOT_FOUND'), isErrorCode('toString'), isErrorCode('UNEXPECTED'), isErrorCode(404)]).toEqual([
      true,
      false,
      false,
      false,
    ]);
  });
});

describe('every code under src/ comes from the table', () => {
  it('spells no code as a string outside src/errors.ts: each is ErrorCode.X, which the compiler checks', () => {
    const spelled = sources().flatMap(({ path, text }) =>
      [...text.matchAll(/['"`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`]/g)]
        .filter(([, word]) => word !== undefined && word in CONTRACT)
        .map(([literal]) => `${path}: ${literal}`),
    );
    expect(spelled).toEqual([]);
  });

  it('sets no `code:` to a literal of its own outside src/errors.ts', () => {
    const coded = sources().flatMap(({ path, text }) =>
      [...text.matchAll(/\bcode:\s*['"`][A-Z][^'"`]*['"`]/g)].map(([literal]) => `${path}: ${literal}`),
    );
    expect(coded).toEqual([]);
  });

  it('documents every code in docs/api.md', () => {
    const api = readFileSync(join(import.meta.dirname, '../../docs/api.md'), 'utf8');
    expect(Object.keys(ErrorCode).filter((code) => !api.includes(`\`${code}\``))).toEqual([]);
  });
});
