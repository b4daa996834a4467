import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type APQStore, createInMemoryAPQStore, useAPQ } from '@graphql-yoga/plugin-apq';
import { usePersistedOperations } from '@graphql-yoga/plugin-persisted-operations';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.ts';
import { ErrorCode, refusalExtensions } from '../errors.ts';

/** What `npm run client:persisted` writes from examples/client (gql.tada's persisted output). */
export const DEFAULT_MANIFEST = fileURLToPath(
  new URL('../../examples/client/persisted-documents.json', import.meta.url),
);

/**
 * Automatic Persisted Queries: documents registered by clients, kept in memory per process (a
 * client whose hash is unknown sends the document again, as the protocol says). Bounded in
 * count and in size: a document is stored before it is parsed or checked against the limits,
 * so without a bound anyone could fill the memory with large ones. The page query is ~500 bytes.
 */
const APQ_MAX_DOCUMENTS = 1000;
const APQ_MAX_DOCUMENT_LENGTH = 16 * 1024;
const APQ_TTL_MS = 24 * 60 * 60 * 1000;

/** What a GraphQL request's body names: a document's text, or a persisted one's id. */
export interface RequestedDocument {
  query?: unknown;
  extensions?: unknown;
}

/**
 * TRUSTED_DOCUMENTS=on: only the manifest's documents run, named by the id a client sends in
 * `extensions.persistedQuery.sha256Hash` (Apollo's and urql's persisted-query format). Off:
 * any document runs, and clients may register theirs by hash (APQ), over GET or POST.
 *
 * `documentOf` is the same rule for the fast lane (src/http/fast-lane.ts), over the same
 * manifest and store: the text a request runs, or null whenever the plugins would refuse it,
 * register a document, or read something else (it then goes through them).
 */
export function persistedOperations(config: Pick<Config, 'trustedDocuments' | 'trustedDocumentsManifest'>): {
  plugins: Plugin[];
  documentOf: (request: RequestedDocument) => string | null;
} {
  if (!config.trustedDocuments) {
    const documents = createInMemoryAPQStore({ max: APQ_MAX_DOCUMENTS, ttl: APQ_TTL_MS });
    return {
      plugins: [useAPQ({ store: boundedStore(documents) })],
      documentOf: ({ query, extensions }) => {
        if (extensions === undefined || extensions === null) return typeof query === 'string' ? query : null;
        const hash = persistedId(extensions);
        if (hash === null || (query !== undefined && query !== null)) return null;
        const stored = documents.get(hash);
        return typeof stored === 'string' ? stored : null;
      },
    };
  }
  const manifest = readManifest(config.trustedDocumentsManifest ?? DEFAULT_MANIFEST);
  // 400 rather than 200: the document did not run, and a plain fetch client should see that.
  const refusal = (message: string, code: ErrorCode) => ({ message, extensions: refusalExtensions(code) });
  return {
    plugins: [
      usePersistedOperations({
        getPersistedOperation: (id) => manifest.get(id) ?? null,
        customErrors: {
          notFound: refusal(
            'PersistedQueryNotFound: this server runs only its trusted documents',
            ErrorCode.PERSISTED_QUERY_NOT_IN_LIST,
          ),
          keyNotFound: refusal(
            'PersistedQueryKeyNotFound: send extensions.persistedQuery.sha256Hash',
            ErrorCode.PERSISTED_QUERY_ID_REQUIRED,
          ),
          persistedQueryOnly: refusal(
            'PersistedQueryOnly: send the id of a trusted document, not a query',
            ErrorCode.CANNOT_SEND_PQ_ID_AND_BODY,
          ),
        },
      }),
    ],
    documentOf: ({ query, extensions }) => {
      const id = query === undefined || query === null ? persistedId(extensions) : null;
      return id === null ? null : (manifest.get(id) ?? null);
    },
  };
}

/** `{ persistedQuery: { version: 1, sha256Hash } }` and nothing else: the id; else null. */
function persistedId(extensions: unknown): string | null {
  if (typeof extensions !== 'object' || extensions === null) return null;
  const keys = Object.keys(extensions);
  if (keys.length !== 1 || keys[0] !== 'persistedQuery') return null;
  const { persistedQuery } = extensions as { persistedQuery: unknown };
  if (typeof persistedQuery !== 'object' || persistedQuery === null) return null;
  const { version, sha256Hash } = persistedQuery as { version?: unknown; sha256Hash?: unknown };
  return version === 1 && typeof sha256Hash === 'string' ? sha256Hash : null;
}

function boundedStore(documents: ReturnType<typeof createInMemoryAPQStore>): APQStore {
  return {
    get: (hash) => documents.get(hash),
    // A longer document still runs; it is just not remembered (the client keeps sending it).
    set: (hash, query) => (query.length <= APQ_MAX_DOCUMENT_LENGTH ? documents.set(hash, query) : undefined),
  };
}

export const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * A manifest: a JSON object of id → document. Every id must be the SHA-256 (hex) of its
 * document, so an id names one document for good and APQ clients compute the same one.
 * Throws one error naming the file and every bad entry.
 */
export function readManifest(path: string): Map<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`trusted documents manifest ${path}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`trusted documents manifest ${path}: expected a JSON object of id → document`);
  }
  const entries = Object.entries(parsed);
  const bad = entries
    .filter(([id, document]) => typeof document !== 'string' || sha256Hex(document) !== id)
    .map(([id]) => id);
  if (bad.length) {
    throw new Error(`trusted documents manifest ${path}: not the SHA-256 of their document: ${bad.join(', ')}`);
  }
  if (!entries.length) throw new Error(`trusted documents manifest ${path}: no documents`);
  return new Map(entries as [string, string][]);
}
