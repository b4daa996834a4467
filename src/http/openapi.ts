import {
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
  type GraphQLSchema,
  getNamedType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from 'graphql';
import { ErrorCode, httpOf } from '../errors.ts';
import type { RestRoute } from '../schema/extensions.ts';

/** The parts of an OpenAPI 3.1 document this module touches. */
interface SchemaObject {
  type?: string | string[];
  properties?: Record<string, SchemaObject>;
  required?: string[];
  description?: string;
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
  responses?: Record<string, { description?: string; [key: string]: unknown }>;
  [key: string]: unknown;
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes?: Record<string, unknown> };
  [key: string]: unknown;
}

const ERRORS_SCHEMA: SchemaObject = {
  type: 'object',
  description: 'Why the request was refused; nothing was changed.',
  required: ['errors'],
  properties: {
    errors: {
      type: 'array',
      items: {
        type: 'object',
        required: ['message'],
        properties: {
          message: { type: 'string', description: 'For people; match on `extensions.code`, not on this.' },
          path: {
            type: 'array',
            description: 'The GraphQL field that failed, when one did.',
            items: { type: ['string', 'integer'] },
          },
          extensions: {
            type: 'object',
            properties: {
              code: {
                type: 'string',
                description: `${Object.keys(ErrorCode).join(', ')}, or a code of Yoga's own (INTERNAL_SERVER_ERROR, …).`,
              },
            },
          },
        },
      },
    },
  },
};

/** JSON Schema of each GraphQL scalar as it is written in JSON. */
const SCALARS: Record<string, SchemaObject> = {
  ID: { type: 'string' },
  String: { type: 'string' },
  Int: { type: 'integer', format: 'int32' },
  Float: { type: 'number', format: 'double' },
  Boolean: { type: 'boolean' },
  DateTime: { type: 'string', format: 'date-time' },
};

const TAGS = [
  { name: 'reviews', description: 'Reviews of subjects, and the figures of their ratings.' },
  { name: 'comments', description: 'Comments on reviews.' },
  { name: 'users', description: 'Who is signed in.' },
];

const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait before trying again.', schema: { type: 'integer' } },
};

/** The 4xx and 5xx answers an operation may give, by status: when each applies, and what it says. */
function refusalsOf(kind: string, route: RestRoute, takesInput: boolean) {
  const namesRow = route.path.includes(':');
  const refusals: Record<string, { description: string; retry?: true }> = {};
  /** Under the status of `code` (src/errors.ts) unless HTTP names it better, with its Retry-After. */
  const refuse = (code: ErrorCode, description: string, status = httpOf(code).status) => {
    refusals[String(status)] = { description, ...(httpOf(code).headers && { retry: true }) };
  };
  const { BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, CONFLICT, BAD_REQUEST } = ErrorCode;
  if (takesInput) {
    refuse(
      BAD_USER_INPUT,
      kind === 'Mutation'
        ? `${BAD_USER_INPUT}: a value that does not coerce or is out of its limits, or a malformed id; ${BAD_REQUEST}: a body that is not a JSON object.`
        : `${BAD_USER_INPUT}: a value that does not coerce or is out of its limits, or a malformed id or cursor.`,
    );
  }
  refuse(
    UNAUTHENTICATED,
    kind === 'Mutation'
      ? `${UNAUTHENTICATED}: no bearer token, or one that is invalid or expired.`
      : `${UNAUTHENTICATED}: a bearer token was sent, but it is invalid or expired (reading needs none).`,
  );
  if (kind === 'Mutation') {
    if (route.method !== 'POST') refuse(FORBIDDEN, `${FORBIDDEN}: someone else's review or comment.`);
  }
  if (namesRow) refuse(NOT_FOUND, `${NOT_FOUND}: nothing has the id in the path.`);
  if (kind === 'Mutation') {
    refuse(
      CONFLICT,
      `${CONFLICT}: a stale \`expectedVersion\`, a second review of a subject, or an \`idempotencyKey\` used for another request.`,
    );
    refuse(
      ErrorCode.REQUEST_ENTITY_TOO_LARGE,
      `${ErrorCode.REQUEST_ENTITY_TOO_LARGE}: the body is larger than the server takes (MAX_BODY_BYTES).`,
    );
    refuse(BAD_REQUEST, `${BAD_REQUEST}: the body is not \`application/json\`.`, 415);
    refuse(ErrorCode.RATE_LIMITED, `${ErrorCode.RATE_LIMITED}: too many writes; try again after \`Retry-After\`.`);
  }
  refuse(
    ErrorCode.READ_ONLY,
    `${ErrorCode.READ_ONLY} or ${ErrorCode.NOT_REPLICATED}: this node cannot answer now (a standby, a lost lease, the replica behind); try again after \`Retry-After\`.`,
  );
  return refusals;
}

/**
 * SOFA's document, said the way this API answers: OpenAPI 3.1, whose schemas are JSON Schema,
 * so what may be null says so (`type: [..., "null"]`) and DateTime is an ISO date-time string
 * (SOFA declares every custom scalar an object and nothing nullable); every path parameter
 * declared (SOFA sees only top-level arguments); a mutation's body described as its input
 * type less those parameters (SOFA says `{ input: … }`); each operation named, summarised and
 * with every refusal it may answer, in the one error shape.
 */
export function restDocument(
  sofaDocument: OpenApiDocument,
  routes: Record<string, RestRoute>,
  schema: GraphQLSchema,
): OpenApiDocument {
  const document = structuredClone(sofaDocument);
  document.openapi = '3.1.0';
  document.info = { ...(document.info as object), license: { name: 'MIT', identifier: 'MIT' } };
  document.tags = TAGS;
  const schemas = document.components.schemas;
  for (const [name, component] of Object.entries(schemas)) {
    const type = schema.getType(name);
    if (!isObjectType(type) && !isInputObjectType(type)) continue;
    const fields: Record<string, { type: GraphQLOutputType | GraphQLInputType; description?: string | null }> =
      type.getFields();
    for (const property of Object.keys(component.properties ?? {})) {
      const field = fields[property];
      if (field && component.properties) component.properties[property] = described(jsonSchemaOf(field.type), field);
    }
  }
  schemas.Errors = ERRORS_SCHEMA;
  document.components.securitySchemes = { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } };
  for (const [field, route] of Object.entries(routes)) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    const operation = document.paths[path]?.[route.method.toLowerCase()];
    if (!operation) throw new Error(`SOFA generated no operation for ${route.method} ${path}`);
    const [kind, name] = field.split('.') as [string, string];
    const graphqlField = (kind === 'Query' ? schema.getQueryType() : schema.getMutationType())?.getFields()[name];
    if (!graphqlField) throw new Error(`No field ${field}`);
    const pathParams = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1] as string);
    operation.operationId = name;
    operation.summary = route.summary;
    if (graphqlField.description) operation.description = graphqlField.description;
    operation.parameters = parametersOf(operation, kind, pathParams, graphqlField);
    // Writes need the token; reads take it when given (`/viewer`), so it is optional there.
    operation.security = kind === 'Mutation' ? [{ bearer: [] }] : [{}, { bearer: [] }];
    if (kind === 'Mutation') {
      const inputName = `${name[0]?.toUpperCase()}${name.slice(1)}Input`;
      const input = schemas[inputName];
      if (!input) throw new Error(`No schema ${inputName} for ${field}`);
      const body = withoutFields(input, pathParams);
      operation.requestBody = {
        required: (body.required ?? []).length > 0,
        content: { 'application/json': { schema: body } },
      };
    }
    operation.responses = { ...successOf(operation, graphqlField, pathParams.length > 0) };
    for (const [status, { description, retry }] of Object.entries(
      refusalsOf(kind, route, graphqlField.args.length > 0),
    )) {
      operation.responses[status] = {
        description,
        ...(retry && { headers: RETRY_AFTER }),
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Errors' } } },
      };
    }
  }
  dropUnusedSchemas(document);
  return document;
}

/**
 * The success answer: SOFA's, its body described from the field. A root field that may be
 * null answers `null` (the anonymous `/viewer`), unless the path names a row: that is a 404.
 */
function successOf(operation: Operation, field: GraphQLField<unknown, unknown>, namesRow: boolean) {
  const [status = '200'] = Object.keys(operation.responses ?? {}).filter((code) => code.startsWith('2'));
  const schema = namesRow
    ? nonNullSchemaOf(isNonNullType(field.type) ? field.type.ofType : field.type)
    : jsonSchemaOf(field.type);
  return {
    [status]: {
      description: getNamedType(field.type).description ?? 'The answer',
      content: { 'application/json': { schema } },
    },
  };
}

/**
 * Query parameters as SOFA declares them (a mutation's `input` is the body, not one of them),
 * each described by its argument, plus the path parameters SOFA could not see.
 */
function parametersOf(
  operation: Operation,
  kind: string,
  pathParams: string[],
  field: GraphQLField<unknown, unknown>,
): Parameter[] {
  const argument = (name: string) => field.args.find((arg) => arg.name === name);
  const parameters = (operation.parameters ?? [])
    .filter((parameter) => kind === 'Query' || parameter.name !== 'input')
    .map((parameter) => {
      const arg = argument(parameter.name);
      return arg
        ? {
            ...parameter,
            schema: jsonSchemaOf(arg.type),
            ...(arg.description && { description: arg.description }),
          }
        : parameter;
    });
  const declared = new Set(parameters.map((parameter) => parameter.name));
  return [
    ...parameters,
    ...pathParams
      .filter((name) => !declared.has(name))
      .map((name) => ({
        name,
        in: 'path',
        required: true,
        schema: { type: 'string' },
        description: argument(name)?.description ?? 'A global id',
      })),
  ];
}

/** JSON Schema of a GraphQL type as its values are written in JSON. */
function jsonSchemaOf(type: GraphQLOutputType | GraphQLInputType): SchemaObject {
  if (isNonNullType(type)) return nonNullSchemaOf(type.ofType);
  const schema = nonNullSchemaOf(type);
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  return { anyOf: [schema, { type: 'null' }] };
}

/** `type` when it holds a value; a non-null type is never passed here (jsonSchemaOf unwraps it). */
function nonNullSchemaOf(type: GraphQLOutputType | GraphQLInputType): SchemaObject {
  if (isListType(type)) return { type: 'array', items: jsonSchemaOf(type.ofType) };
  if (isScalarType(type)) {
    const scalar = SCALARS[type.name];
    if (!scalar) throw new Error(`No JSON Schema for the scalar ${type.name}`);
    return { ...scalar };
  }
  return { $ref: `#/components/schemas/${getNamedType(type).name}` };
}

function described(schema: SchemaObject, { description }: { description?: string | null }): SchemaObject {
  return description ? { ...schema, description } : schema;
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

/** SOFA lists every type of the view (the root types, the inputs now inlined as bodies, …). */
function dropUnusedSchemas(document: OpenApiDocument) {
  const { schemas, ...rest } = document.components;
  const used = new Set<string>();
  const reach = (value: unknown) => {
    for (const [, name] of JSON.stringify(value).matchAll(/"#\/components\/schemas\/(\w+)"/g)) {
      if (name && !used.has(name)) {
        used.add(name);
        reach(schemas[name]);
      }
    }
  };
  reach({ ...document, components: rest });
  for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
}
