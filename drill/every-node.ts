import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadRecord } from './load.ts';
import type { NodeProcess } from './node-process.ts';

/**
 * What the drill measures of "every node serves": how the reads spread over the nodes, how far
 * behind the standbys' data is, and whether a client reads its own writes through the balancer.
 */

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? null;

/** p50, p99 and max of `values`. */
function spread(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? null,
  };
}

/**
 * Every standby's `/ready` lag, sampled every `everyMs` until stopped (bounded by `maxMs`).
 * Reported over the whole run and apart from the failovers: from a fault until every standby
 * follows the new primary, a standby restores the new generation whole (seconds at 1 GB), its
 * data ageing meanwhile, then copies it to its other file; outside them the lag is what
 * following costs.
 */
export class LagSampler {
  readonly samples: { at: number; lagMs: number }[] = [];
  readonly #failovers: { from: number; to: number }[] = [];
  #stopping = false;
  #running: Promise<void> | null = null;

  constructor(
    private readonly nodes: () => NodeProcess[],
    private readonly everyMs = 250,
    private readonly maxMs = 10 * 60_000,
  ) {}

  start(): void {
    const until = Date.now() + this.maxMs;
    this.#running = (async () => {
      while (!this.#stopping && Date.now() < until) {
        await Promise.all(this.nodes().map((node) => this.#sample(node)));
        await sleep(this.everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
  }

  async #sample(node: NodeProcess) {
    try {
      const response = await fetch(`${node.url}/ready`, { signal: AbortSignal.timeout(this.everyMs * 4) });
      const state = (await response.json()) as { role?: string; reads?: { lagMs?: number | null } };
      if (state.role === 'standby' && typeof state.reads?.lagMs === 'number') {
        this.samples.push({ at: Date.now(), lagMs: state.reads.lagMs });
      }
    } catch {
      // A node being killed or frozen: no sample.
    }
  }

  /** A fault at `from`, every standby following the new primary by `to`. */
  failover(from: number, to: number): void {
    this.#failovers.push({ from, to });
  }

  figures() {
    const during = ({ at }: { at: number }) => this.#failovers.some(({ from, to }) => at >= from && at <= to);
    return {
      ...spread(this.samples.map(({ lagMs }) => lagMs)),
      outsideFailovers: spread(this.samples.filter((sample) => !during(sample)).map(({ lagMs }) => lagMs)),
    };
  }
}

export interface ReadYourWritesFigures {
  /** Write-then-read pairs whose write was acknowledged and whose read was answered. */
  pairs: number;
  /** Reads that did not see the write just acknowledged. */
  violations: number;
  /** Pairs left out: the write refused (mid-failover) or the read unanswered. */
  skipped: number;
  /** Why, by answer ("write 503 READ_ONLY", "read timeout", …). */
  skippedBy: Record<string, number>;
}

const CREATE = 'mutation($input: CreateReviewInput!) { createReview(input: $input) { review { id } } }';
const READ_BACK = 'query($id: ID!) { review(id: $id) { id } }';

/**
 * A client that writes through one node (each in turn, standbys included: they forward) and at
 * once reads the review back through the balancer, passing the write's position on as a
 * client without cookies does. A read that does not find it is a violation.
 */
export class ReadYourWrites {
  readonly figures: ReadYourWritesFigures = { pairs: 0, violations: 0, skipped: 0, skippedBy: {} };
  #stopping = false;
  #running: Promise<void> | null = null;

  constructor(
    private readonly options: {
      nodes: () => NodeProcess[];
      balancer: string;
      token: string;
      runId: string;
      maxPairs: number;
      maxMs: number;
    },
  ) {}

  /** `clients` loops, each writing through the nodes in turn. */
  start(clients = 4): void {
    const until = Date.now() + this.options.maxMs;
    let seq = 0;
    const client = async () => {
      while (!this.#stopping && Date.now() < until && seq < this.options.maxPairs) {
        const nodes = this.options.nodes();
        const mine = seq++;
        const node = nodes[mine % nodes.length];
        if (node) await this.#pair(node, mine).catch((error: Error) => this.#skip(error.name));
      }
    };
    this.#running = Promise.all(Array.from({ length: clients }, client)).then(() => {});
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
  }

  #skip(why: string) {
    this.figures.skipped++;
    this.figures.skippedBy[why] = (this.figures.skippedBy[why] ?? 0) + 1;
  }

  async #pair(node: NodeProcess, seq: number) {
    const { token, runId, balancer } = this.options;
    const key = `drill-${runId}-ryw-${seq}`;
    const written = await fetch(`${node.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: CREATE,
        variables: { input: { subject: key, rating: 3, title: 'read your writes', body: key, idempotencyKey: key } },
      }),
      signal: AbortSignal.timeout(5000),
    });
    const body = (await written.json()) as {
      data?: { createReview?: { review: { id: string } } };
      errors?: { extensions?: { code?: string } }[];
    };
    const id = body.data?.createReview?.review.id;
    const position = written.headers.get('x-reviews-api-position');
    if (!id || !position) {
      this.#skip(`write ${written.status} ${body.errors?.[0]?.extensions?.code ?? (id ? 'no position' : 'error')}`);
      return;
    }
    const read = await fetch(`${balancer}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-reviews-api-position': position },
      body: JSON.stringify({ query: READ_BACK, variables: { id } }),
      signal: AbortSignal.timeout(5000),
    });
    const found = (await read.json()) as { data?: { review?: { id: string } | null } };
    if (read.status !== 200) {
      this.#skip(`read ${read.status}`);
      return;
    }
    this.figures.pairs++;
    if (found.data?.review?.id !== id) this.figures.violations++;
  }
}

/** The share of the answered reads each node answered (by nginx's X-Upstream), by node name. */
export function readsPerNode(reads: ReadRecord[], names: Map<string, string>): Record<string, number> {
  const answered = reads.filter((read) => read.ok && read.upstream);
  const counts: Record<string, number> = {};
  for (const read of answered) {
    const name = names.get(read.upstream as string) ?? (read.upstream as string);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.fromEntries(
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, count]) => [name, Math.round((count / answered.length) * 1000) / 1000]),
  );
}

/** Reads started in [from, to]: how many, how many answered. */
export function readsBetween(reads: ReadRecord[], from: number, to: number) {
  const during = reads.filter((read) => read.startedAt >= from && read.startedAt <= to);
  return { total: during.length, ok: during.filter((read) => read.ok).length };
}
