import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The drill's clients: writers that create reviews and add comments through the load balancer,
 * each write carrying an idempotencyKey and retried with that same key until it is answered,
 * and readers that page reviews. Every attempt is recorded, so a drill (or the replicated
 * durability checks built on it) can tell which writes were acknowledged, when, and by whom.
 */

export interface Attempt {
  startedAt: number;
  endedAt: number;
  status: number | null;
  code: string | null;
  /** The node that answered last (nginx's X-Upstream), if the load balancer said. */
  upstream: string | null;
  error?: string;
}

export type Outcome = 'acknowledged' | 'refused' | 'gave up' | 'pending';

export interface WriteRecord {
  /** The idempotencyKey, also the review's subject or the comment's body: found in the database by it. */
  key: string;
  kind: 'review' | 'comment';
  writer: number;
  startedAt: number;
  /** When the first acknowledgement arrived (epoch ms). */
  ackedAt: number | null;
  ackedBy: string | null;
  /**
   * The Litestream generation of the primary that executed it (from the answer's
   * x-reviews-api-position): the node a standby forwarded it to, not the node nginx reached.
   */
  ackedIn: string | null;
  outcome: Outcome;
  refusal: string | null;
  attempts: Attempt[];
}

export interface ReadRecord {
  startedAt: number;
  endedAt: number;
  ok: boolean;
  upstream: string | null;
  /** What a failed read got: "HTTP 504", "timeout", … */
  failure?: string;
}

export interface LoadOptions {
  /** The load balancer's base URL. */
  url: string;
  /** One bearer token per writer. */
  tokens: string[];
  readers: number;
  /** Marks this run's rows: keys start with `drill-${runId}-`. */
  runId: string;
  /**
   * One attempt's limit; a write is retried after it. Longer than nginx's proxy_read_timeout
   * (3 s): a client that gives up first never lets nginx see the timeout that takes a frozen
   * primary out, and keeps being sent to it.
   */
  attemptTimeoutMs?: number;
  retryDelayMs?: number;
  /** A write still unanswered after this long is given up (and recorded so). */
  writeDeadlineMs?: number;
  /** Hard bounds on the whole load: writes started, and time. */
  maxWrites?: number;
  maxDurationMs?: number;
  /** Comments per review before a writer starts a new review. */
  commentsPerReview?: number;
}

const CREATE_REVIEW = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }';
const ADD_COMMENT = 'mutation($input: AddCommentInput!) { addComment(input: $input) { comment { id } } }';
const READ = '{ reviews(first: 10, orderBy: NEWEST) { totalCount nodes { id commentCount } } }';

/** Codes that are the answer, not a failure to get one: retrying them changes nothing. */
const FINAL_CODES = new Set(['BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT']);

const ADDRESS = /\[?[\w.:]*\]?:\d+|\d+\.\d+\.\d+\.\d+:\d+/g;

/** The node that answered: the last address in X-Upstream ("a, b" or "a : b" after a retry). */
export function answeringUpstream(header: string | null): string | null {
  return header?.match(ADDRESS)?.at(-1) ?? null;
}

interface GraphQLAnswer {
  status: number | null;
  upstream: string | null;
  /** The generation named by x-reviews-api-position (a write's answer). */
  generation?: string | null;
  data: Record<string, unknown> | null;
  code: string | null;
  error?: string;
}

/**
 * One GraphQL request: a POST (a write), or a GET (a read: nginx sends a GET on to another node
 * when one times out, as it never does a POST). With a token, a GET bypasses nginx's cache, so
 * each read reaches a node.
 */
async function request(url: string, query: string, variables: unknown, token: string | null, timeoutMs: number) {
  const isRead = !query.startsWith('mutation');
  const target = isRead
    ? `${url}/graphql?${new URLSearchParams({ query, variables: JSON.stringify(variables) })}`
    : `${url}/graphql`;
  try {
    const response = await fetch(target, {
      method: isRead ? 'GET' : 'POST',
      headers: {
        'content-type': 'application/json',
        ...(isRead && { 'apollo-require-preflight': 'true' }),
        ...(token && { authorization: `Bearer ${token}` }),
      },
      ...(!isRead && { body: JSON.stringify({ query, variables }) }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const upstream = answeringUpstream(response.headers.get('x-upstream'));
    const generation = response.headers.get('x-reviews-api-position')?.split('.')[0] ?? null;
    const text = await response.text();
    try {
      const body = JSON.parse(text) as {
        data?: Record<string, unknown> | null;
        errors?: { extensions?: { code?: string } }[];
      };
      const code = body.errors?.[0]?.extensions?.code ?? (body.errors ? 'ERROR' : null);
      return { status: response.status, upstream, generation, data: body.data ?? null, code } satisfies GraphQLAnswer;
    } catch {
      return { status: response.status, upstream, data: null, code: null, error: text.slice(0, 120) };
    }
  } catch (error) {
    return { status: null, upstream: null, data: null, code: null, error: (error as Error).message };
  }
}

export class WriteLoad {
  readonly writes: WriteRecord[] = [];
  readonly reads: ReadRecord[] = [];
  readonly #options: Required<LoadOptions>;
  #running: Promise<void>[] = [];
  #stopping = false;
  #startedAt = 0;

  constructor(options: LoadOptions) {
    this.#options = {
      attemptTimeoutMs: 5000,
      retryDelayMs: 100,
      writeDeadlineMs: 30_000,
      maxWrites: 100_000,
      maxDurationMs: 10 * 60_000,
      commentsPerReview: 4,
      ...options,
    };
  }

  start(): void {
    this.#startedAt = Date.now();
    this.#running = [
      ...this.#options.tokens.map((token, writer) => this.#writer(writer, token)),
      ...Array.from({ length: this.#options.readers }, () => this.#reader()),
    ];
  }

  /** Stops starting writes and waits for those under way (each bounded by its deadline). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#running);
  }

  /** Acknowledged writes, in the order they were acknowledged. */
  acknowledged(): WriteRecord[] {
    return this.writes
      .filter((write) => write.outcome === 'acknowledged')
      .sort((a, b) => (a.ackedAt as number) - (b.ackedAt as number));
  }

  #more(): boolean {
    const { maxWrites, maxDurationMs } = this.#options;
    return !this.#stopping && this.writes.length < maxWrites && Date.now() - this.#startedAt < maxDurationMs;
  }

  async #writer(writer: number, token: string) {
    let review: string | null = null;
    let comments = 0;
    for (let seq = 0; this.#more(); seq++) {
      const key = `drill-${this.#options.runId}-w${writer}-${seq}`;
      const kind = review && comments < this.#options.commentsPerReview ? 'comment' : 'review';
      const input =
        kind === 'review'
          ? { subject: key, rating: 1 + (seq % 5), title: `drill review ${seq}`, body: key, idempotencyKey: key }
          : { reviewId: review, body: key, idempotencyKey: key };
      const result = await this.#write(
        { key, kind, writer },
        kind === 'review' ? CREATE_REVIEW : ADD_COMMENT,
        input,
        token,
      );
      if (kind === 'review') {
        review = result;
        comments = 0;
      } else if (result) {
        comments += 1;
      } else {
        // The review may be gone (a write lost in a failover): start a new one.
        review = null;
      }
    }
  }

  /** One logical write, retried with the same key until it is answered; returns the new id. */
  async #write(
    identity: Pick<WriteRecord, 'key' | 'kind' | 'writer'>,
    query: string,
    input: Record<string, unknown>,
    token: string,
  ): Promise<string | null> {
    const { url, attemptTimeoutMs, retryDelayMs, writeDeadlineMs } = this.#options;
    const record: WriteRecord = {
      ...identity,
      startedAt: Date.now(),
      ackedAt: null,
      ackedBy: null,
      ackedIn: null,
      outcome: 'pending',
      refusal: null,
      attempts: [],
    };
    this.writes.push(record);
    while (Date.now() - record.startedAt < writeDeadlineMs) {
      const startedAt = Date.now();
      const answer = await request(url, query, { input }, token, attemptTimeoutMs);
      const { status, code, upstream, error } = answer;
      record.attempts.push({ startedAt, endedAt: Date.now(), status, code, upstream, ...(error && { error }) });
      const payload = answer.data?.[identity.kind === 'review' ? 'createReview' : 'addComment'] as
        | { review?: { id: string }; comment?: { id: string } }
        | undefined;
      if (status === 200 && payload) {
        Object.assign(record, {
          outcome: 'acknowledged',
          ackedAt: Date.now(),
          ackedBy: upstream,
          ackedIn: answer.generation ?? null,
        });
        return (payload.review ?? payload.comment)?.id ?? null;
      }
      if (code && FINAL_CODES.has(code)) {
        Object.assign(record, { outcome: 'refused', refusal: code });
        return null;
      }
      await sleep(retryDelayMs);
    }
    record.outcome = 'gave up';
    return null;
  }

  async #reader() {
    while (this.#more()) {
      const startedAt = Date.now();
      const token = this.#options.tokens[0] ?? null;
      const answer = await request(this.#options.url, READ, {}, token, this.#options.attemptTimeoutMs);
      const ok = answer.status === 200 && answer.data !== null;
      const failure = ok ? undefined : answer.status === null ? (answer.error ?? 'no answer') : `HTTP ${answer.status}`;
      this.reads.push({ startedAt, endedAt: Date.now(), ok, upstream: answer.upstream, ...(failure && { failure }) });
      await sleep(ok ? 20 : this.#options.retryDelayMs);
    }
  }
}
