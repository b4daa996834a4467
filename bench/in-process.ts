/**
 * `npm run bench:in-process -- --scenario <name> [--requests N] [--rounds N] [--fast-reads off]
 * [--distinct-documents]`: the app's own `fetch`, no sockets, one request at a time, over a
 * freshly seeded default dataset; prints the CPU and wall time per request of the best round.
 * `--distinct-documents` makes every request a document never seen before (a comment differs),
 * so each one is parsed, validated and compiled anew: a flood of new documents. Small changes to the request path show here when
 * they drown in an HTTP run's noise: run it on two checkouts in turn and compare the minima
 * (docs/performance.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { signingKey, signToken } from '../src/auth.ts';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { createApp } from '../src/http/yoga.ts';
import { DATASETS, seedDatabase } from './dataset.ts';
import { SCENARIO_NAMES, type ScenarioName, scenarios } from './scenarios.ts';

const JWT_SECRET = 'in-process-bench-secret-of-32-characters';

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
}

interface InProcessOptions {
  scenario?: ScenarioName;
  requests: number;
  rounds: number;
  fastReads: 'on' | 'off';
  distinctDocuments?: boolean;
}

const program = new Command('bench:in-process')
  .description('CPU time per request of one scenario through the app in this process')
  .addOption(new Option('--scenario <name>', 'which request').choices(SCENARIO_NAMES))
  .addOption(new Option('--fast-reads <on|off>', 'FAST_READS').choices(['on', 'off']).default('on'))
  .option('--distinct-documents', 'every request a new document (no plan or parse cache hits)')
  .option('--requests <n>', 'requests per round', positiveInt, 2000)
  .option('--rounds <n>', 'rounds; the best is reported', positiveInt, 5)
  .action(async (options: InProcessOptions) => {
    const name = options.scenario ?? 'page';
    const scenario = scenarios(DATASETS.default).find((candidate) => candidate.name === name);
    if (!scenario) throw new InvalidArgumentError(`unknown scenario ${name}`);
    // As the bench's servers run: production mode (graphql-js checks less), no rate limit.
    process.env.NODE_ENV = 'production';
    const config = loadConfig({
      NODE_ENV: 'production',
      JWT_SECRET,
      RATE_LIMIT: 'off',
      LOG_LEVEL: 'silent',
      FAST_READS: options.fastReads,
    });
    if (!config.ok) throw new Error(config.errors.join('; '));
    const dir = mkdtempSync(join(tmpdir(), 'reviews-in-process-'));
    try {
      const path = join(dir, 'reviews.db');
      seedDatabase(path, DATASETS.default);
      const db = openDatabase(path);
      const app = createApp({ db, config: config.config });
      const token = await signToken({ userId: 'bench-writer', name: 'Bench Writer' }, await signingKey(JWT_SECRET));
      let sent = 0;
      const send = async (i: number) => {
        const request = scenario.body(i);
        if (options.distinctDocuments) request.query = `${request.query} # ${sent++}`;
        const body = JSON.stringify(request);
        const response = await app.fetch('http://localhost/graphql', {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            ...(scenario.write && { authorization: `Bearer ${token}` }),
          },
          body,
        });
        const text = await response.text();
        if (response.status !== 200 || text.includes('"errors"')) throw new Error(`${name} failed: ${text}`);
      };
      // Warm-up: the first requests compile and fill the caches.
      for (let i = 0; i < 200; i++) await send(i);
      let best = { cpuMs: Number.POSITIVE_INFINITY, wallMs: Number.POSITIVE_INFINITY };
      for (let round = 0; round < options.rounds; round++) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        for (let i = 0; i < options.requests; i++) await send(i);
        const wallMs = (performance.now() - started) / options.requests;
        const { user, system } = process.cpuUsage(cpu);
        const cpuMs = (user + system) / 1000 / options.requests;
        if (cpuMs < best.cpuMs) best = { cpuMs, wallMs };
      }
      db.$client.close();
      process.stdout.write(
        `${name} (FAST_READS=${options.fastReads}${options.distinctDocuments ? ', distinct documents' : ''}): ${best.cpuMs.toFixed(3)} ms CPU, ${best.wallMs.toFixed(3)} ms wall per request ` +
          `(best of ${options.rounds} rounds of ${options.requests})\n`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

await program.parseAsync();
