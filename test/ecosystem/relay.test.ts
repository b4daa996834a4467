import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type ConcreteRequest,
  ConnectionHandler,
  commitMutation,
  createOperationDescriptor,
  Environment,
  fetchQuery,
  Network,
  RecordSource,
  Store,
} from 'relay-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aliceToken, commentOver, reviewOver, type Served, serve } from './served.ts';

/**
 * Relay as its documentation sets it up: relay-compiler over the checked-in schema.graphql (the
 * `@appendEdge` / `@prependEdge` it refused before the payloads had edges), then relay-runtime's
 * store against a real server: the refetch query of a `@refetchable` fragment on User with its
 * reviews, their comments and each author, and mutations that put their edge into the cached
 * connections.
 */
const DOCUMENTS = `import { graphql } from 'relay-runtime';
graphql\`
  fragment Reviews_user on User @refetchable(queryName: "ReviewsRefetchQuery")
  @argumentDefinitions(count: { type: "Int", defaultValue: 10 }, cursor: { type: "String" }) {
    name
    reviews(first: $count, after: $cursor) @connection(key: "Reviews_reviews") {
      edges { node { id title ...Reviews_comments } }
    }
  }
\`;
graphql\`
  fragment Reviews_comments on Review {
    comments(first: 5) @connection(key: "Reviews_comments") { edges { node { id body author { id name } } } }
  }
\`;
graphql\`
  mutation ReviewsAddCommentMutation($input: AddCommentInput!, $connections: [ID!]!) {
    addComment(input: $input) {
      commentEdge @appendEdge(connections: $connections) { cursor node { id body author { id name } } }
    }
  }
\`;
graphql\`
  mutation ReviewsCreateReviewMutation($input: CreateReviewInput!, $connections: [ID!]!) {
    createReview(input: $input) { reviewEdge @prependEdge(connections: $connections) { cursor node { id title } } }
  }
\`;
`;

describe('Relay: its compiler and its store, over a real socket', () => {
  let served: Served;
  let project: string;
  let token: string;
  let reviewId: string;
  const aliceId = Buffer.from('User:alice').toString('base64');
  beforeAll(async () => {
    served = await serve();
    token = await aliceToken();
    reviewId = await reviewOver(served.origin, token, { subject: 'kettle', rating: 4, title: 'Quick', body: 'Boils.' });
    await commentOver(served.origin, token, reviewId, 'First!');
    project = mkdtempSync(join(tmpdir(), 'reviews-relay-'));
    mkdirSync(join(project, 'src'));
    copyFileSync(join(import.meta.dirname, '..', '..', 'schema.graphql'), join(project, 'schema.graphql'));
    writeFileSync(join(project, 'src', 'documents.js'), DOCUMENTS);
    writeFileSync(
      join(project, 'relay.config.json'),
      JSON.stringify({ src: './src', schema: './schema.graphql', language: 'javascript' }),
    );
  });
  afterAll(async () => {
    await served.close();
    rmSync(project, { recursive: true, force: true });
  });

  it('compiles @appendEdge and @prependEdge, and its store takes the refetch query and both edges', async () => {
    const compiler = createRequire(import.meta.url).resolve('relay-compiler/cli.js');
    const compiled = spawnSync(process.execPath, [compiler], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(compiled.stdout + compiled.stderr).toContain('Compilation completed');
    // Each an ES module exporting its node (the compiler's JavaScript output).
    const artifact = async (name: string) =>
      (
        (await import(pathToFileURL(join(project, 'src', '__generated__', `${name}.graphql.js`)).href)) as {
          default: ConcreteRequest;
        }
      ).default;

    const environment = new Environment({
      network: Network.create(async (request, variables) => {
        const response = await fetch(`${served.origin}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: request.text, variables }),
        });
        return response.json();
      }),
      store: new Store(new RecordSource()),
    });
    const refetch = await artifact('ReviewsRefetchQuery');
    // Nine levels as every field counts: the depth limit refused it before plumbing stopped counting.
    const data = (await fetchQuery(environment, refetch, { id: aliceId }).toPromise()) as { node: unknown };
    expect(data.node).toHaveProperty('__fragments.Reviews_user');
    environment.retain(createOperationDescriptor(refetch, { id: aliceId }));

    const source = () => environment.getStore().getSource();
    const edgesOf = (connection: string) => {
      const refs = source().get(connection)?.edges as { __refs?: string[] } | undefined;
      return (refs?.__refs ?? []).map((edge) => source().get(source().get(edge)?.node?.__ref as string));
    };
    const comments = ConnectionHandler.getConnectionID(reviewId, 'Reviews_comments');
    const reviews = ConnectionHandler.getConnectionID(aliceId, 'Reviews_reviews');
    expect(edgesOf(comments).map((node) => node?.body)).toEqual(['First!']);
    expect(edgesOf(reviews).map((node) => node?.title)).toEqual(['Quick']);

    const commit = async (name: string, variables: Record<string, unknown>) => {
      const mutation = await artifact(name);
      return new Promise<void>((done, failed) => {
        commitMutation(environment, {
          mutation,
          variables,
          onCompleted: (_, errors) => (errors?.length ? failed(new Error(JSON.stringify(errors))) : done()),
          onError: failed,
        });
      });
    };
    await commit('ReviewsAddCommentMutation', { input: { reviewId, body: 'Second' }, connections: [comments] });
    await commit('ReviewsCreateReviewMutation', {
      input: { subject: 'toaster', rating: 5, title: 'Even', body: 'Golden.' },
      connections: [reviews],
    });
    expect(edgesOf(comments).map((node) => node?.body)).toEqual(['First!', 'Second']);
    expect(edgesOf(reviews).map((node) => node?.title)).toEqual(['Even', 'Quick']);
  });
});
