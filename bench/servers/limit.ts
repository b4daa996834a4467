/**
 * The bare limit as a process of its own (so the load generator does not share its event
 * loop): node:http and the hand-written handlers over DATABASE_PATH. Logs the same
 * {"msg":"listening","url"} line as `reviews-api serve`. WORKERS > 1: as many processes under
 * node:cluster on one port, each with its own connection (bench/servers/limit-cluster.ts).
 * REPLICATION=on (one process): the service's own Litestream beside it, for the same cost.
 * LIMIT_PAGE=statement: the page query as one statement (bench/limit/handlers.ts), not one per review.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authenticate, signingKey } from '../../src/auth.ts';
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { createLogger } from '../../src/logger.ts';
import { startReplication } from '../../src/replication/primary.ts';
import { limitHandlers } from '../limit/handlers.ts';
import { type GraphQLBody, rowIdOf } from '../scenarios.ts';
import { runAsCluster } from './limit-cluster.ts';
import { logListening, stopOnSignal } from './listening.ts';

// The primary of a cluster only forks and relays: it never reaches the handlers below.
if (await runAsCluster(Number(process.env.WORKERS ?? 1))) process.exit(0);

const databasePath = process.env.DATABASE_PATH;
const jwtSecret = process.env.JWT_SECRET;
if (!databasePath || !jwtSecret) throw new Error('DATABASE_PATH and JWT_SECRET are required');

// REPLICATION=on: Litestream beside it, started as `reviews-api serve` starts it.
const replicating = process.env.REPLICATION === 'on';
const db = openDatabase(databasePath, { replicating });
const config = replicating ? configOf(process.env) : null;
const replication = config ? await startReplication(config, createLogger(config)) : null;
const handlers = limitHandlers(db.$client);
const page = process.env.LIMIT_PAGE === 'statement' ? handlers.pageInOneStatement : handlers.page;
const key = await signingKey(jwtSecret);

function send(res: ServerResponse, status: number, body: string | Buffer) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

async function answer(req: IncomingMessage): Promise<[number, string | Buffer]> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const { operationName, variables } = JSON.parse(Buffer.concat(chunks).toString()) as GraphQLBody;
  switch (operationName) {
    case 'Page':
      return [200, page(Number(variables.first))];
    case 'Review':
      return [200, handlers.review(rowIdOf(String(variables.id)))];
    case 'Summary':
      return [200, handlers.ratingSummary(String(variables.subject))];
    case 'Comment':
      return [200, handlers.comment(rowIdOf(String(variables.reviewId)), rowIdOf(String(variables.id)))];
    case 'Node': {
      const [typename = '', id = ''] = Buffer.from(String(variables.id), 'base64').toString().split(':');
      return [200, handlers.node(typename, Number(id))];
    }
    case 'Typename':
      return [200, handlers.typename()];
    case 'AddComment': {
      const auth = await authenticate(req.headers.authorization ?? null, key);
      if (auth.kind !== 'user') return [401, '{"errors":[{"message":"Not signed in"}]}'];
      const input = variables.input as { reviewId: string; body: string };
      const written = handlers.addComment(auth.viewer, rowIdOf(input.reviewId), input.body.trim(), Date.now());
      return written ? [200, written] : [200, '{"errors":[{"message":"Review not found"}]}'];
    }
    default:
      return [400, '{"errors":[{"message":"unknown operation"}]}'];
  }
}

const server = createServer((req, res) => {
  answer(req).then(
    ([status, body]) => send(res, status, body),
    (error: Error) => send(res, 500, JSON.stringify({ errors: [{ message: error.message }] })),
  );
});
server.listen(0, '127.0.0.1', () => {
  // Under a cluster the primary says it, once every process listens.
  if (cluster.isPrimary) logListening(server.address() as AddressInfo);
});
stopOnSignal(server, async () => {
  db.$client.close();
  await replication?.stop();
});

function configOf(env: NodeJS.ProcessEnv) {
  const loaded = loadConfig(env);
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  return loaded.config;
}
