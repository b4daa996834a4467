import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type DocumentNode, Kind, parse, validate } from 'graphql';
import { schema } from '../../src/schema/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');

function filesUnder(dir: string, extension = '.ts'): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path, extension) : path.endsWith(extension) ? [path] : [];
  });
}

/** String literals and lines of a source file or a README that might be GraphQL. */
function candidates(text: string): string[] {
  const found: string[] = [];
  // Interpolations (`first: ${n}`) become a number: most are page sizes, the rest fail validation.
  for (const match of text.matchAll(/`((?:[^`\\]|\\.)*)`/g)) found.push((match[1] ?? '').replace(/\$\{[^}]*\}/g, '2'));
  for (const match of text.matchAll(/'((?:[^'\\\n]|\\.)*)'/g)) found.push(match[1] ?? '');
  for (const match of text.matchAll(/"((?:[^"\\\n]|\\.)*)"/g)) {
    try {
      found.push(JSON.parse(`"${match[1]}"`) as string);
    } catch {
      // not a JSON string
    }
  }
  for (const block of text.matchAll(/```\w*\n([\s\S]*?)```/g)) {
    found.push(block[1] ?? '', ...(block[1] ?? '').split('\n'));
  }
  return found;
}

/** A query operation of a document found in the repository, by operation name. */
export interface CorpusEntry {
  source: string;
  text: string;
  operationName: string | undefined;
  document: DocumentNode;
}

/**
 * Every valid read document written down in the repository: the test suite's, the README's and
 * docs/', GraphiQL's examples and the typed client's. Each query operation of a document is an entry.
 */
export function readCorpus(): CorpusEntry[] {
  const sources = [
    ...filesUnder(join(ROOT, 'test')).filter((path) => !path.includes(`${join('test', 'reads')}`)),
    join(ROOT, 'README.md'),
    ...filesUnder(join(ROOT, 'docs'), '.md'),
    join(ROOT, 'src', 'http', 'examples.ts'),
    ...filesUnder(join(ROOT, 'examples', 'client', 'src')),
  ];
  const seen = new Set<string>();
  const entries: CorpusEntry[] = [];
  for (const path of sources) {
    for (const text of candidates(readFileSync(path, 'utf8'))) {
      if (!/(\bquery\b|\{)/.test(text) || seen.has(text)) continue;
      seen.add(text);
      let document: DocumentNode;
      try {
        document = parse(text);
      } catch {
        continue;
      }
      const operations = document.definitions.filter((node) => node.kind === Kind.OPERATION_DEFINITION);
      const queries = operations.filter((node) => node.operation === 'query');
      if (!queries.length || validate(schema, document).length) continue;
      for (const query of queries) {
        const operationName = operations.length > 1 ? query.name?.value : undefined;
        entries.push({ source: path.slice(ROOT.length + 1), text, operationName, document });
      }
    }
  }
  return entries;
}
