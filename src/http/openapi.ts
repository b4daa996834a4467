import type { RestRoute } from '../schema/extensions.ts';

/** The parts of an OpenAPI 3.0 document this module touches. */
interface SchemaObject {
  type?: string;
  properties?: Record<string, unknown>;
  required?: string[];
  [key: string]: unknown;
}

interface Parameter {
  name: string;
  in: string;
  [key: string]: unknown;
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: unknown;
  responses?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes?: Record<string, unknown> };
  [key: string]: unknown;
}

const ERRORS_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['errors'],
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['message'],
        properties: {
          message: { type: 'string' },
          path: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
          extensions: {
            type: 'object',
            properties: { code: { type: 'string', description: 'BAD_USER_INPUT, UNAUTHENTICATED, …' } },
          },
        },
      },
    },
  },
};

const errorsResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } },
});

/**
 * SOFA's document, said the way this API is called: SOFA documents a mutation's body as
 * `{ input: … }` and cannot see path parameters that are not top-level arguments, while the
 * REST adapter takes the input itself as the body, filled from the path. So: every path
 * parameter declared, a mutation's body described as its input type less those parameters,
 * and the error shape documented.
 */
export function restDocument(sofaDocument: OpenApiDocument, routes: Record<string, RestRoute>): OpenApiDocument {
  const document = structuredClone(sofaDocument);
  document.components.schemas.Errors = ERRORS_SCHEMA;
  document.components.securitySchemes = { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } };
  for (const [field, route] of Object.entries(routes)) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const operation = document.paths[path]?.[route.method.toLowerCase()];
    if (!operation) throw new Error(`SOFA generated no operation for ${route.method} ${path}`);
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1] as string);
    const [kind, name] = field.split('.') as [string, string];
    // SOFA also lists a mutation's `input` as a query parameter; it is the body.
    const parameters = (operation.parameters ?? []).filter((p) => kind === 'Query' || p.name !== 'input');
    const declared = new Set(parameters.map((parameter) => parameter.name));
    operation.parameters = [
      ...parameters,
      ...pathParams
        .filter((name) => !declared.has(name))
        .map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' }, description: 'A global id' })),
    ];
    // Writes need the token; reads take it when given (`/viewer`), so it is optional there.
    operation.security = kind === 'Mutation' ? [{ bearer: [] }] : [{}, { bearer: [] }];
    if (kind === 'Mutation') {
      const inputName = `${name[0]?.toUpperCase()}${name.slice(1)}Input`;
      const input = document.components.schemas[inputName];
      if (!input) throw new Error(`No schema ${inputName} for ${field}`);
      const body = withoutFields(input, pathParams);
      operation.requestBody = {
        required: (body.required ?? []).length > 0,
        content: { 'application/json': { schema: body } },
      };
    }
    operation.responses = {
      ...operation.responses,
      ...(pathParams.length > 0 && { '404': errorsResponse('No such resource') }),
      default: errorsResponse('Refused: the status and `extensions.code` say why'),
    };
  }
  return document;
}

/** An input object's schema with the fields that came from the path taken out. */
function withoutFields(schema: SchemaObject, fields: string[]): SchemaObject {
  const properties = Object.fromEntries(
    Object.entries(schema.properties ?? {}).filter(([property]) => !fields.includes(property)),
  );
  const required = (schema.required ?? []).filter((property) => !fields.includes(property));
  const { required: _all, properties: _every, ...rest } = schema;
  return { ...rest, properties, ...(required.length > 0 && { required }) };
}
