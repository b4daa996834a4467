import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeLeaseLocation, type Lease, type LeaseGrant, type LeaseRecord } from './lease.ts';

interface TermFile extends LeaseRecord {
  /** Wall-clock expiry (epoch ms): every process on the host reads the same clock. */
  expiresAt: number;
}

const TERM_FILE = /^term-(\d{12})\.json$/;
/** Old terms kept for the record (who held the lease before); older ones are removed. */
const TERMS_KEPT = 20;

/**
 * A lease for the nodes of one host: a directory of term files. Taking term N+1 creates
 * `term-N+1.json` with link(2), which fails if the file exists, so of two nodes that both saw
 * term N expire exactly one wins. The holder renews by atomically replacing its own term file
 * (rename), and only while its lease is still valid (the keeper's deadline comes a safety
 * margin before the expiry written here), so a renewal never races a takeover.
 */
export class FileLease implements Lease {
  readonly location: string;
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
    this.location = describeLeaseLocation({ kind: 'file', path: dir });
    mkdirSync(dir, { recursive: true });
  }

  acquire(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number): Promise<LeaseGrant | null> {
    return this.#take(candidate, ttlMs, () => true);
  }

  regain(candidate: Omit<LeaseRecord, 'term'>, ttlMs: number, lastTerm: number): Promise<LeaseGrant | null> {
    return this.#take(candidate, ttlMs, (latest) => latest?.term === lastTerm);
  }

  /** Term N+1 when term N ran out and `allowed(term N)`; link(2) decides between contenders. */
  async #take(
    candidate: Omit<LeaseRecord, 'term'>,
    ttlMs: number,
    allowed: (latest: TermFile | null) => boolean,
  ): Promise<LeaseGrant | null> {
    const latest = this.#latest();
    if ((latest && latest.expiresAt > Date.now()) || !allowed(latest)) return null;
    const term = (latest?.term ?? 0) + 1;
    const temp = this.#temp({ ...candidate, term, expiresAt: Date.now() + ttlMs });
    try {
      linkSync(temp, this.#termPath(term));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return null;
      throw error;
    } finally {
      rmSync(temp, { force: true });
    }
    this.#prune(term);
    return { term, ttlMs };
  }

  async renew(grant: LeaseGrant, ttlMs: number): Promise<LeaseGrant | null> {
    const latest = this.#latest();
    if (!latest || latest.term !== grant.term || latest.expiresAt <= Date.now()) return null;
    renameSync(this.#temp({ ...latest, expiresAt: Date.now() + ttlMs }), this.#termPath(grant.term));
    return { term: grant.term, ttlMs };
  }

  async current(): Promise<LeaseRecord | null> {
    const latest = this.#latest();
    if (!latest || latest.expiresAt <= Date.now()) return null;
    return { holder: latest.holder, url: latest.url, term: latest.term };
  }

  async release(grant: LeaseGrant): Promise<void> {
    const latest = this.#latest();
    if (latest?.term !== grant.term) return;
    renameSync(this.#temp({ ...latest, expiresAt: 0 }), this.#termPath(grant.term));
  }

  async close(): Promise<void> {}

  #termPath(term: number) {
    return join(this.#dir, `term-${String(term).padStart(12, '0')}.json`);
  }

  #terms(): number[] {
    return readdirSync(this.#dir)
      .map((name) => TERM_FILE.exec(name)?.[1])
      .filter((term) => term !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  #latest(): TermFile | null {
    const term = this.#terms().at(-1);
    if (term === undefined) return null;
    return JSON.parse(readFileSync(this.#termPath(term), 'utf8')) as TermFile;
  }

  /** A complete file under a unique name, so readers never see a half-written term. */
  #temp(record: TermFile): string {
    const path = join(this.#dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    writeFileSync(path, JSON.stringify(record));
    return path;
  }

  #prune(latest: number) {
    for (const term of this.#terms()) {
      if (term <= latest - TERMS_KEPT) rmSync(this.#termPath(term), { force: true });
    }
  }
}
