/**
 * `npm run bench`: seeds a dataset, then measures the service against the bare limit (and a
 * stock Apollo Server, and the response cache) over loopback HTTP, each server a process of its
 * own. Prints a table, writes bench/results/<time>.json and .svg. docs/performance.md explains.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ROOT } from '../harness/server-process.ts';
import { renderChart } from './chart.ts';
import { DATASETS, type DatasetName } from './dataset.ts';
import { Progress } from './progress.ts';
import { formatReport } from './report.ts';
import { runBench } from './run.ts';
import { SCENARIO_NAMES } from './scenarios.ts';
import type { ServerKind } from './servers.ts';

const SERVERS: ServerKind[] = ['limit', 'limit+statement', 'service', 'service+ordinary', 'service+cache', 'apollo'];

function list<T extends string>(allowed: readonly T[]) {
  return (text: string): T[] => {
    const items = text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
    const bad = items.filter((item) => !allowed.includes(item as T));
    if (bad.length) throw new InvalidArgumentError(`unknown: ${bad.join(', ')} (choose from ${allowed.join(', ')})`);
    return items as T[];
  };
}

function positiveInts(text: string): number[] {
  if (text === 'none') return [];
  const numbers = text.split(',').map(Number);
  if (numbers.some((n) => !Number.isInteger(n) || n < 1))
    throw new InvalidArgumentError('a comma-separated list of positive integers');
  return numbers;
}

function positiveInt(text: string): number {
  const [n] = positiveInts(text);
  if (n === undefined) throw new InvalidArgumentError('a positive integer');
  return n;
}

const program = new Command('bench')
  .description('Reviews API benchmarks: the service next to the bare limit, in one run')
  .addOption(new Option('--dataset <name>', 'dataset size').choices(Object.keys(DATASETS)).default('default'))
  .option('--reviews <n>', 'override the number of reviews', positiveInt)
  .option('--comments <n>', 'override the number of comments', positiveInt)
  .option('--users <n>', 'override the number of users', positiveInt)
  .option('--subjects <n>', 'override the number of subjects', positiveInt)
  .option('--connections <list>', 'concurrency levels', positiveInts, [1, 8, 32, 64])
  .option('--duration <seconds>', 'seconds per measurement', positiveInt, 5)
  .option('--scenarios <list>', `which of ${SCENARIO_NAMES.join(', ')}`, list(SCENARIO_NAMES), [...SCENARIO_NAMES])
  .option(
    '--workers <list>',
    'process counts to run each server at (WORKERS; the limit under node:cluster)',
    positiveInts,
    [1],
  )
  .option('--servers <list>', `which of ${SERVERS.join(', ')}`, list(SERVERS), SERVERS)
  .option('--no-replication', 'skip writes with replication on and the replication lag')
  .option('--sync-interval <duration>', 'REPLICA_SYNC_INTERVAL for the replicated runs', '1s')
  .option('--lag-samples <n>', 'writes timed for replication lag', positiveInt, 50)
  .option('--restore-sizes <mb>', 'database sizes (MB) to time restore at, or "none"', positiveInts, [10, 100, 1000])
  .option('--cpu-prof <dir>', 'profile the service with node --cpu-prof into this directory')
  .option('--out <dir>', 'where the JSON and the chart go', join(ROOT, 'bench', 'results'))
  .action(async (opts) => {
    const name = opts.dataset as DatasetName;
    const dataset = {
      ...DATASETS[name],
      ...(opts.reviews && { reviews: opts.reviews }),
      ...(opts.comments && { comments: opts.comments }),
      ...(opts.users && { users: opts.users }),
      ...(opts.subjects && { subjects: opts.subjects }),
    };
    const progress = new Progress();
    const result = await runBench(
      {
        dataset,
        datasetName: name,
        connections: opts.connections,
        durationSeconds: opts.duration,
        scenarios: opts.scenarios,
        servers: opts.servers,
        workers: opts.workers,
        replication: opts.replication,
        syncInterval: opts.syncInterval,
        lagSamples: opts.lagSamples,
        restoreSizesMb: opts.restoreSizes,
        ...(opts.cpuProf && { cpuProfileDir: opts.cpuProf }),
      },
      progress,
    );
    await mkdir(opts.out, { recursive: true });
    const stamp = result.startedAt.replace(/[:.]/g, '-');
    const json = join(opts.out, `${stamp}.json`);
    const svg = join(opts.out, `${stamp}.svg`);
    await writeFile(json, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(svg, await renderChart(result));
    process.stdout.write(formatReport(result));
    progress.step(`wrote ${json} and ${svg}`);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exit(1);
}
