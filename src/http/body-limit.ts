import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Only a single non-negative integer is a Content-Length; anything else is a smuggling attempt. */
const CONTENT_LENGTH = /^\d+$/;

/**
 * MAX_BODY_BYTES on /graphql. Yoga's own limit re-streams every body through a counting
 * TransformStream, which cost about a third of a single-review query's CPU. A body sent with a
 * Content-Length cannot be longer than it (Node's HTTP parser frames the body by it, and refuses
 * a request that also says chunked), so the header decides alone; only a body without one
 * (chunked) is read here, counting, and stopped at the limit. createApp turns Yoga's off.
 */
export function useBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI }) {
      const length = request.headers.get('content-length');
      if (length !== null) {
        if (!CONTENT_LENGTH.test(length)) throw requestError(400, 'BAD_REQUEST', 'Content-Length header is invalid.');
        if (Number(length) > limit) throw tooLarge();
        return;
      }
      if (!requestParser || !request.body) return;
      setRequestParser(async (unlimited) => {
        const body = await readAtMost(unlimited, limit);
        if (!body) throw tooLarge();
        const { url, method, headers } = unlimited;
        return requestParser(new fetchAPI.Request(url, { method, headers, body }));
      });
    },
  };
}

/**
 * The body's bytes, or null as soon as they pass `limit`. Reading then stops without cancelling
 * the stream: a cancel would destroy the socket before the 413 could be sent on it.
 */
export async function readAtMost(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    total += read.value.byteLength;
    if (total > limit) {
      reader.releaseLock();
      return null;
    }
    chunks.push(read.value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge() {
  return requestError(413, 'REQUEST_ENTITY_TOO_LARGE', 'Request body too large');
}

function requestError(status: number, code: string, message: string) {
  return new GraphQLError(message, { extensions: { code, http: { status } } });
}
