/**
 * The S3 emulator the replication tests use (fauxqs 1.9.2), in a process of its own so the
 * drill's load generator does not slow the replica down. Prints one JSON line with its
 * address once it listens; runs until it is killed.
 * Usage: node --import tsx drill/s3-server.ts BUCKET
 */
import { startFauxqs } from 'fauxqs';

const bucket = process.argv[2];
if (!bucket) {
  process.stderr.write('usage: s3-server.ts BUCKET\n');
  process.exit(2);
}
const server = await startFauxqs({ port: 0, host: '127.0.0.1', logger: false });
server.createBucket(bucket);
process.stdout.write(`${JSON.stringify({ address: server.address })}\n`);
