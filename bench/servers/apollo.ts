/**
 * The peer: a stock Apollo Server (its standalone HTTP server, default options) over the
 * same Pothos schema, context and database as the service. Logs the same listening line.
 */
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { authenticate, signingKey } from '../../src/auth.ts';
import { type Context, standalonePrimary } from '../../src/context.ts';
import { openDatabase } from '../../src/db/client.ts';
import { createReviewEvents } from '../../src/pubsub.ts';
import { schema } from '../../src/schema/index.ts';

const databasePath = process.env.DATABASE_PATH;
const jwtSecret = process.env.JWT_SECRET;
if (!databasePath || !jwtSecret) throw new Error('DATABASE_PATH and JWT_SECRET are required');

const db = openDatabase(databasePath);
const key = await signingKey(jwtSecret);
const events = createReviewEvents();
const server = new ApolloServer<Context>({ schema });
const { url } = await startStandaloneServer(server, {
  listen: { port: 0, host: '127.0.0.1' },
  context: async ({ req }) => {
    const auth = await authenticate(req.headers.authorization ?? null, key);
    return { db, auth, viewer: auth.kind === 'user' ? auth.viewer : null, node: standalonePrimary, events };
  },
});
process.stdout.write(`${JSON.stringify({ msg: 'listening', url })}\n`);
const stop = async () => {
  await server.stop();
  db.$client.close();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
