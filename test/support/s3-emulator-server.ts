/**
 * The S3 emulator (fauxqs 2.4.1, which needs Node ≥ 22.5: test/support/s3-emulator.ts starts
 * this file on such a Node), with two corrections a real store does not need:
 *
 * - It listens on 127.0.0.1 (fauxqs' own `startFauxqs` binds 0.0.0.0 whatever `host` says).
 * - It decodes numeric character references in CompleteMultipartUpload bodies. Litestream
 *   0.3.13's Go SDK (aws-sdk-go v1, whose XML encoder is Go's encoding/xml) writes every part's
 *   ETag as `<ETag>&#34;<md5>&#34;</ETag>`; fauxqs (1.9.2 through 2.9.2, the newest checked) decodes
 *   only the five named entities, keeps `&#34;…&#34;`, which then never equals the part's
 *   `"…"`, and refuses every multipart upload with 400 InvalidPart. Litestream uploads a
 *   snapshot or WAL segment larger than 5 MiB in parts, so without this no replica over ~5 MB
 *   ever had a snapshot. docs/s3-emulator.md has the report for upstream.
 *
 * The references are rewritten to the named entities fauxqs does decode (and other characters
 * to themselves), so the body stays the same XML document and nothing is decoded twice.
 * Prints one JSON line with its address once it listens; runs until it is killed.
 * Usage: node test/support/s3-emulator-server.ts BUCKET
 */
import { buildApp } from 'fauxqs';

const NAMED: Record<string, string> = { '"': '&quot;', "'": '&apos;', '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/** `&#34;`, `&#x22;` and the like as the named entity or the character itself. */
function namedEntities(xml: string): string {
  return xml.replace(/&#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}));/g, (reference, hex: string | undefined, decimal) => {
    const code = hex === undefined ? Number(decimal) : Number.parseInt(hex, 16);
    if (code > 0x10ffff) return reference;
    const character = String.fromCodePoint(code);
    return NAMED[character] ?? character;
  });
}

const bucket = process.argv[2];
if (!bucket) {
  process.stderr.write('usage: s3-emulator-server.ts BUCKET\n');
  process.exit(2);
}
const app = buildApp({ logger: false });
app.addHook('preHandler', async (request) => {
  // CompleteMultipartUpload is the one POST on an object key with an uploadId.
  const { uploadId } = request.query as { uploadId?: string };
  if (request.method === 'POST' && uploadId !== undefined && Buffer.isBuffer(request.body)) {
    request.body = Buffer.from(namedEntities(request.body.toString('utf8')));
  }
});
const address = await app.listen({ port: 0, host: '127.0.0.1' });
const created = await app.inject({ method: 'PUT', url: `/${bucket}` });
if (created.statusCode !== 200)
  throw new Error(`cannot create bucket ${bucket}: ${created.statusCode} ${created.body}`);
process.stdout.write(`${JSON.stringify({ address })}\n`);
