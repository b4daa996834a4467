import { ServerResponse } from 'node:http';
import { ErrorCode, refusalBody, refusalHead } from '../errors.ts';
import { POSITION_HEADER } from './positions.ts';

/**
 * A write is acknowledged only if this node still holds its lease as the answer leaves, on every
 * pipeline (Yoga's and the mutation lane alike). Checking the lease before the write is not
 * enough: a process frozen (SIGSTOP, a paused VM) between that check and its commit, or between
 * its commit and its answer, wakes after another node took over, and its success would
 * acknowledge a write the new primary may never have had (the drill's freeze found one, lost).
 * Decided when the answer starts: a success becomes NOT_REPLICATED (503 + Retry-After), which
 * says what is known (committed here, maybe not in the timeline that goes on) and that a retry
 * with the same idempotencyKey is safe. An answer that is no success passes unchanged.
 */
export function fenceAnswer(res: ServerResponse, whyNotHeld: () => string | null): void {
  const { writeHead, write, end } = res;
  /** undefined until the answer starts; then null (sent as it is) or why it is replaced. */
  let replaced: string | null | undefined;
  const decide = (status: number) => {
    replaced ??= status >= 200 && status < 300 ? whyNotHeld() : null;
    return replaced;
  };
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    // Replaced: the refusal's own head is written by end(), whatever this call said.
    return decide(status) === null ? Reflect.apply(writeHead, this, [status, ...rest]) : this;
  } as ServerResponse['writeHead'];
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    return decide(this.statusCode) === null ? Reflect.apply(write, this, args) : true;
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    const why = decide(this.statusCode);
    if (why === null) return Reflect.apply(end, this, args);
    const body = refusalBody(
      ErrorCode.NOT_REPLICATED,
      `The write was committed on this node but is not acknowledged: this node's lease was gone when its answer left (${why}). It may not be in the replica the next primary follows; retry with the same idempotencyKey.`,
    );
    const { status, headers } = refusalHead(ErrorCode.NOT_REPLICATED);
    // What described the write's answer goes; the prototype's methods skip any wrapper installed
    // before this one (the position stamp): the refusal names no position.
    for (const name of ['content-length', 'content-encoding', 'etag', 'set-cookie', POSITION_HEADER]) {
      this.removeHeader(name);
    }
    Reflect.apply(ServerResponse.prototype.writeHead, this, [status, headers]);
    return Reflect.apply(ServerResponse.prototype.end, this, [body]) as ServerResponse;
  } as ServerResponse['end'];
}
