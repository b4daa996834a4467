import type { Plugin } from 'graphql-yoga';
import { ErrorCode, refusal } from '../errors.ts';

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
      const refused = bodyLengthRefusal(request.headers.get('content-length'), limit);
      if (refused) throw requestError(refused);
      if (request.headers.has('content-length') || !requestParser || !request.body) return;
      setRequestParser(async (unlimited) => {
        const body = await readAtMost(unlimited, limit);
        if (!body) throw requestError(TOO_LARGE);
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

/** Why a request's body may not be read, as /graphql and the REST routes answer it (its status is its code's). */
export interface BodyRefusal {
  code: ErrorCode;
  message: string;
}

export const TOO_LARGE: BodyRefusal = { code: ErrorCode.REQUEST_ENTITY_TOO_LARGE, message: 'Request body too large' };

/**
 * MAX_BODY_BYTES from the headers alone: a Content-Length that is not one, or that says more
 * than `limit`. A body without Content-Length must still be counted as it is read (readAtMost).
 * Asked by /graphql (here and in the fast lane) and the REST routes.
 */
export function bodyLengthRefusal(length: string | null | undefined, limit: number): BodyRefusal | null {
  if (length === null || length === undefined) return null;
  if (!CONTENT_LENGTH.test(length))
    return { code: ErrorCode.BAD_REQUEST, message: 'Content-Length header is invalid.' };
  return Number(length) > limit ? TOO_LARGE : null;
}

function requestError({ code, message }: BodyRefusal) {
  return refusal(code, message);
}
