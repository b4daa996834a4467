import fc from 'fast-check';
import {
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  getNamedType,
  isInterfaceType,
  isObjectType,
} from 'graphql';
import { schema } from '../../src/schema/index.ts';
import type { Pools } from './dataset.ts';

type Gen = fc.GeneratorValue;

export interface GeneratedRequest {
  query: string;
  variables: Record<string, unknown>;
  signedIn: boolean;
}

/**
 * Documents generated from the schema: random selections of every read field, aliases (some
 * repeated, so fields merge), inline and named fragments, @skip/@include with literals and
 * variables, arguments inline or as variables (some left to their defaults), page sizes from
 * 0 past the maximum, cursors real and malformed, ids existing, missing and malformed.
 */
export function generatedRequests(pools: Pools): fc.Arbitrary<GeneratedRequest> {
  return fc.gen().map((g) => new DocumentWriter(g, pools).write());
}

class DocumentWriter {
  private readonly variables: Record<string, unknown> = {};
  private readonly definitions: string[] = [];
  private readonly fragments: string[] = [];
  private count = 0;

  constructor(
    private readonly g: Gen,
    private readonly pools: Pools,
  ) {}

  write(): GeneratedRequest {
    const query = schema.getQueryType() as GraphQLObjectType;
    const body = this.selection(query, 0);
    const header = this.definitions.length ? `query Generated(${this.definitions.join(', ')})` : 'query Generated';
    return {
      query: `${header} ${body}\n${this.fragments.join('\n')}`,
      variables: this.variables,
      signedIn: this.g(fc.boolean),
    };
  }

  private pick<T>(values: readonly T[]): T {
    return this.g(fc.constantFrom, ...values);
  }

  /** A value as a literal or as a variable of the given type (sometimes declared but unset). */
  private value(type: string, value: unknown): string {
    if (this.g(fc.boolean)) return JSON.stringify(value).replace(/"(NEWEST|OLDEST|RATING_HIGH|RATING_LOW)"/, '$1');
    const name = `v${this.count++}`;
    const withDefault = (type === 'Int' || type === 'ReviewOrder') && this.g(fc.integer, { min: 0, max: 4 }) === 0;
    this.definitions.push(`$${name}: ${type}${withDefault ? ` = ${type === 'ReviewOrder' ? 'RATING_LOW' : '2'}` : ''}`);
    if (withDefault && (type === 'ReviewOrder' || type === 'Int')) return `$${name}`;
    if (!type.endsWith('!') && this.g(fc.integer, { min: 0, max: 5 }) === 0) return `$${name}`;
    this.variables[name] = value;
    return `$${name}`;
  }

  private anyId(): string {
    const { reviewIds, commentIds, userIds, strangeIds } = this.pools;
    return this.pick([...reviewIds.slice(0, 4), ...commentIds.slice(0, 4), ...userIds, ...strangeIds]);
  }

  private args(field: GraphQLField<unknown, unknown>): string {
    const parts: string[] = [];
    for (const arg of field.args) {
      const required = arg.type.toString().endsWith('!');
      if (!required && this.g(fc.integer, { min: 0, max: 2 }) > 0) continue;
      const type = arg.type.toString();
      let value: unknown;
      switch (arg.name) {
        case 'first':
        case 'last':
          value = this.pick([0, 1, 2, 3, 5, 150, -1]);
          break;
        case 'after':
        case 'before':
          value = this.pick(this.pools.cursors);
          break;
        case 'orderBy':
          value = this.pick(['NEWEST', 'OLDEST', 'RATING_HIGH', 'RATING_LOW']);
          break;
        case 'subject':
          value = this.pick(this.pools.subjects);
          break;
        case 'minRating':
          value = this.pick([1, 3, 4, 5, 6]);
          break;
        case 'authorId':
          value = this.pick([...this.pools.userIds, ...this.pools.strangeIds.slice(0, 3)]);
          break;
        case 'reviewId':
          value = this.pick([...this.pools.reviewIds, ...this.pools.strangeIds]);
          break;
        case 'ids':
          value = this.g(
            fc.array,
            fc.constantFrom(
              ...this.pools.reviewIds,
              ...this.pools.commentIds,
              ...this.pools.userIds,
              ...this.pools.strangeIds.slice(0, 3),
            ),
            { maxLength: 4 },
          );
          break;
        default:
          value =
            arg.name === 'id' && field.name === 'comment' && this.g(fc.boolean)
              ? this.pick(this.pools.commentIds)
              : this.anyId();
      }
      parts.push(`${arg.name}: ${this.value(type, value)}`);
    }
    return parts.length ? `(${parts.join(', ')})` : '';
  }

  private directive(): string {
    switch (this.g(fc.integer, { min: 0, max: 7 })) {
      case 0:
        return ' @skip(if: true)';
      case 1:
        return ' @include(if: false)';
      case 2:
        return ` @include(if: ${this.value('Boolean!', this.g(fc.boolean))})`;
      case 3:
        return ` @skip(if: ${this.value('Boolean!', this.g(fc.boolean))})`;
      default:
        return '';
    }
  }

  private selection(type: GraphQLObjectType, depth: number): string {
    const fields = Object.values(type.getFields()).filter(
      (field) => depth < 4 || !isComposite(getNamedType(field.type)),
    );
    const chosen = fields.length
      ? this.g(
          fc.subarray,
          fields.map((_, i) => i),
          { minLength: 1, maxLength: Math.min(fields.length, depth === 0 ? 3 : 5) },
        ).map((i) => fields[i] as GraphQLField<unknown, unknown>)
      : [];
    const parts = chosen.map((field) => this.field(field, depth));
    if (!parts.length) parts.push('__typename');
    if (this.g(fc.integer, { min: 0, max: 3 }) === 0) parts.push('__typename');
    // The same field twice under one key: the executor merges them.
    const first = parts[0];
    if (first && this.g(fc.integer, { min: 0, max: 4 }) === 0) parts.push(first);
    const body = parts.join(' ');
    switch (this.g(fc.integer, { min: 0, max: 5 })) {
      case 0:
        return `{ ... on ${type.name} { ${body} } }`;
      case 1: {
        const name = `F${this.count++}`;
        this.fragments.push(`fragment ${name} on ${type.name} { ${body} }`);
        return `{ ...${name}${this.directive()} ${parts[0]} }`;
      }
      default:
        return `{ ${body} }`;
    }
  }

  private field(field: GraphQLField<unknown, unknown>, depth: number): string {
    const alias = this.g(fc.integer, { min: 0, max: 3 }) === 0 ? `a${this.count++}: ` : '';
    const named = getNamedType(field.type);
    return `${alias}${field.name}${this.args(field)}${this.directive()}${this.subselection(named, depth)}`;
  }

  private subselection(type: GraphQLNamedType, depth: number): string {
    if (isObjectType(type)) return ` ${this.selection(type, depth + 1)}`;
    if (isInterfaceType(type)) {
      const branches = schema
        .getPossibleTypes(type)
        .filter(() => this.g(fc.boolean))
        .map((possible) => {
          const inner = this.selection(possible, depth + 1);
          if (this.g(fc.boolean)) return `... on ${possible.name} ${inner}`;
          const name = `N${this.count++}`;
          this.fragments.push(`fragment ${name} on ${possible.name} ${inner}`);
          return `...${name}`;
        });
      return ` { id ${branches.join(' ')} }`;
    }
    return '';
  }
}

function isComposite(type: GraphQLNamedType): boolean {
  return isObjectType(type) || isInterfaceType(type);
}
