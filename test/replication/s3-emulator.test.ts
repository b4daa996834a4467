import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { s3ForThisFile } from './support.ts';

/**
 * The S3 emulator the tests and the drill replicate to, spoken to as Litestream 0.3.13 speaks:
 * its Go SDK writes each part's ETag quotes as `&#34;`, and the elements of each `<Part>` in
 * an order of its own (a Go map's), part by part.
 */

const s3 = s3ForThisFile();
const MiB = 1024 * 1024;

async function send(method: string, url: string, body?: BodyInit) {
  const response = await fetch(url, { method, ...(body !== undefined && { body }) });
  const text = Buffer.from(await response.arrayBuffer());
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return { response, text };
}

describe('the S3 emulator', () => {
  it('completes a multipart upload written as Go writes it, with every part in place', async () => {
    const object = `${s3.address}/${s3.bucket}/multipart/${randomBytes(4).toString('hex')}`;
    const created = await send('POST', `${object}?uploads=`);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.text.toString())?.[1] as string;
    const parts = [5 * MiB, 5 * MiB, MiB].map((size) => new Uint8Array(randomBytes(size)));
    const etags: string[] = [];
    for (const [index, part] of parts.entries()) {
      const uploaded = await send('PUT', `${object}?partNumber=${index + 1}&uploadId=${uploadId}`, part);
      etags.push(uploaded.response.headers.get('etag') as string);
    }
    // Part 1 with its number first, the others with their ETag first, as Litestream sent them.
    const elements = etags.map((etag, index) => {
      const number = `<PartNumber>${index + 1}</PartNumber>`;
      const tag = `<ETag>${etag.replaceAll('"', '&#34;')}</ETag>`;
      return `<Part>${index === 0 ? number + tag : tag + number}</Part>`;
    });
    await send(
      'POST',
      `${object}?uploadId=${uploadId}`,
      `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${elements.join('')}</CompleteMultipartUpload>`,
    );

    const stored = await send('GET', object);
    expect(stored.text.length).toBe(11 * MiB);
    expect(stored.text.equals(Buffer.concat(parts))).toBe(true);
  });
});
