import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

interface Document {
  paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
}

/** The operation an answer came from: `GET /reviews/{id}`, as the document writes it. */
export type OperationKey = string;

/**
 * Checks real answers against an OpenAPI 3.1 document with a JSON Schema validator (Ajv,
 * draft 2020-12, the dialect of OpenAPI 3.1): each answer must have its status documented
 * for its operation, and a body the schema of that status accepts. Remembers which
 * operations answered with which statuses, so a suite can show that every one was checked.
 */
export function answerChecker(document: Document, basePath: string) {
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats.default(ajv);
  ajv.addFormat('int32', {
    type: 'number',
    validate: (value: number) => Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31,
  });
  ajv.addFormat('double', { type: 'number', validate: Number.isFinite });
  // The document as one schema resource, so that `#/components/schemas/…` resolves in it.
  ajv.addVocabulary(['openapi', 'info', 'servers', 'paths', 'components', 'tags']);
  ajv.addSchema({ ...document, $id: 'openapi.json' });
  const templates = Object.keys(document.paths).map((template) => ({
    template,
    pattern: new RegExp(`^${basePath}${template.replace(/\{\w+\}/g, '[^/]+')}/?$`),
  }));
  const answered = new Map<OperationKey, Set<number>>();

  return {
    /** The problems with one answer of a documented operation; none when it is as documented. */
    check(method: string, url: string, status: number, body: unknown): string[] {
      const { pathname } = new URL(url, 'http://localhost');
      const template = templates.find(({ pattern }) => pattern.test(pathname))?.template;
      const lower = method.toLowerCase();
      // Not an operation of the document (a 404 for a path that is none): nothing to hold it to.
      if (!template || !document.paths[template]?.[lower]) return [];
      const key = `${method.toUpperCase()} ${template}`;
      answered.set(key, (answered.get(key) ?? new Set()).add(status));
      if (!document.paths[template]?.[lower]?.responses[String(status)]) return [`${key}: ${status} is not documented`];
      const pointer = ['paths', template, lower, 'responses', String(status), 'content', 'application/json', 'schema']
        .map((part) => part.replaceAll('~', '~0').replaceAll('/', '~1'))
        .join('/');
      const validate = ajv.getSchema(`openapi.json#/${pointer}`);
      if (!validate) return [`${key}: ${status} has no JSON schema`];
      if (validate(body)) return [];
      return (validate.errors ?? []).map((error) => `${key} ${status}: ${error.instancePath} ${error.message}`);
    },
    /** Each operation of the document with the statuses it was seen to answer. */
    answered: () =>
      Object.fromEntries(
        Object.entries(document.paths).flatMap(([template, operations]) =>
          Object.keys(operations).map((method) => {
            const key = `${method.toUpperCase()} ${template}`;
            return [key, [...(answered.get(key) ?? [])].sort()];
          }),
        ),
      ),
  };
}
