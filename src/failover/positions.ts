import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShadowWalIndexes } from '../replication/shadow-wal.ts';
import { WalReader } from '../replication/wal.ts';

/**
 * Read-your-writes. Every mutation's answer names where its write ends in the replica's own
 * numbering (generation, WAL index, byte offset: the coordinates Litestream ships in and a
 * standby's follower applies in), as a response header and as a cookie; a read carrying either
 * is answered from data at least that new (src/failover/node.ts).
 */
export const POSITION_HEADER = 'x-reviews-api-position';
export const POSITION_COOKIE = 'reviews_api_position';
/**
 * How long a browser sends the cookie back: a standby is at most STANDBY_MAX_LAG behind, after
 * which every node holds the write anyway.
 */
const POSITION_COOKIE_MAX_AGE_S = 60;

/** How often a write waiting for Litestream's first generation looks again. */
const NAMED_POLL_MS = 25;

export interface WritePosition {
  generation: string;
  index: number;
  offset: number;
}

const POSITION_TEXT = /^([0-9a-f]{16})\.(\d{1,10})\.(\d{1,15})$/;

export const formatPosition = ({ generation, index, offset }: WritePosition) => `${generation}.${index}.${offset}`;

export function parsePosition(text: string): WritePosition | null {
  const match = POSITION_TEXT.exec(text);
  if (!match) return null;
  return { generation: match[1] as string, index: Number(match[2]), offset: Number(match[3]) };
}

/** The request asks for data at least this new: its header, else its cookie. */
export type WantedPosition = { position: WritePosition } | { malformed: string } | null;

/**
 * The position a read asks for. A malformed header is the client's mistake and is refused; a
 * malformed cookie is ignored (a browser keeps what an older version set).
 */
export function wantedPosition(req: IncomingMessage): WantedPosition {
  const header = req.headers[POSITION_HEADER];
  if (typeof header === 'string') {
    const position = parsePosition(header.trim());
    return position ? { position } : { malformed: header };
  }
  const cookies = req.headers.cookie;
  if (!cookies?.includes(POSITION_COOKIE)) return null;
  for (const pair of cookies.split(';')) {
    const [name, value] = pair.split('=', 2).map((part) => part.trim());
    if (name !== POSITION_COOKIE || !value) continue;
    const position = parsePosition(value);
    if (position) return { position };
  }
  return null;
}

/**
 * Where the primary's committed WAL ends now, in the replica's numbering: Litestream's current
 * generation, the index its shadow WAL gave the SQLite WAL with these salts (the next index
 * when it has not copied that WAL yet: Litestream numbers each WAL it sees one up), and the
 * byte offset, which Litestream keeps as SQLite's. Null before Litestream has a generation.
 */
export class PrimaryPositions {
  readonly #wal: WalReader;
  readonly #shadow: ShadowWalIndexes;

  constructor(databasePath: string) {
    this.#wal = new WalReader(databasePath);
    this.#shadow = new ShadowWalIndexes(databasePath);
  }

  /**
   * Resolves once Litestream names its generation (at its first sync after a promotion), or
   * after `ms`: a write waits for it so that its answer can name a position.
   */
  async named(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (this.#shadow.generation() === null && performance.now() < until) await sleep(NAMED_POLL_MS);
  }

  now(): WritePosition | null {
    const generation = this.#shadow.generation();
    if (!generation) return null;
    const end = this.#wal.committedEnd();
    const known = end.salts === '' ? null : this.#shadow.indexOf(generation, end.salts);
    const index = known ?? (this.#shadow.position()?.index ?? -1) + 1;
    return { generation, index, offset: end.offset };
  }

  /**
   * Names the position on `res` as its head is written, after the write committed: the header
   * and the cookie (HttpOnly: only this API reads it; Lax: sent on the site's own navigation).
   */
  stamp(res: ServerResponse): void {
    const writeHead = res.writeHead;
    const positions = this;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      const position = positions.now();
      if (position) {
        const text = formatPosition(position);
        this.setHeader(POSITION_HEADER, text);
        this.appendHeader(
          'set-cookie',
          `${POSITION_COOKIE}=${text}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${POSITION_COOKIE_MAX_AGE_S}`,
        );
      }
      return Reflect.apply(writeHead, this, args) as ServerResponse;
    } as ServerResponse['writeHead'];
  }
}

/** True when data at `held` (a followed file) includes everything before `wanted`. */
export function holds(held: WritePosition, wanted: WritePosition): boolean {
  return held.index > wanted.index || (held.index === wanted.index && held.offset >= wanted.offset);
}
