import { Writable } from 'node:stream';
import pino from 'pino';
import type { Db } from '../../src/db/client.ts';
import { createApp } from '../../src/http/yoga.ts';
import type { ReadPath } from '../../src/reads/plugin.ts';
import { testConfig } from '../support/app.ts';

export interface BothAnswers {
  compiled: string;
  ordinary: string;
  /** How the FAST_READS=on app ran the operation. */
  path: ReadPath | undefined;
  /** Why the compiler left it to the ordinary path, if it said. */
  reasons: string[];
}

/**
 * Two apps over one database: FAST_READS on and off. `ask` sends the same request to both and
 * returns both bodies, byte for byte, with the path the fast app took.
 */
export function bothPaths(db: Db) {
  const paths: ReadPath[] = [];
  const reasons: string[] = [];
  const lines = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const entry = JSON.parse(line) as { msg?: string; path?: ReadPath; reason?: string; err?: unknown };
        if (entry.msg === 'read path' && entry.path) paths.push(entry.path);
        if (entry.reason || entry.err) reasons.push(JSON.stringify(entry.reason ?? entry.err));
      }
      done();
    },
  });
  const logger = pino({ level: 'debug' }, lines);
  const fast = createApp({ db, config: { ...testConfig, fastReads: true }, logger });
  const ordinary = createApp({ db, config: { ...testConfig, fastReads: false } });

  const body = async (app: typeof fast, query: string, variables: Record<string, unknown>, token?: string) => {
    const response = await app.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return `${response.status} ${await response.text()}`;
  };

  return {
    async ask(query: string, variables: Record<string, unknown> = {}, token?: string): Promise<BothAnswers> {
      paths.length = 0;
      reasons.length = 0;
      const compiled = await body(fast, query, variables, token);
      // pino writes asynchronously: let its line arrive.
      await new Promise((resolve) => setImmediate(resolve));
      const path = paths.at(-1);
      return { compiled, ordinary: await body(ordinary, query, variables, token), path, reasons: [...reasons] };
    },
  };
}
