import CliTable from 'cli-table3';
import {
  type BenchResult,
  isLimit,
  limitRowsBeside,
  REPLICATED_LIMIT,
  REPLICATED_SERVICE,
  type ThroughputRow,
} from './run.ts';

/** Plain tables: the same bytes on a terminal and in a CI log. */
const table = (head: string[]) => new CliTable({ head, style: { head: [], border: [] } });

const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const pct = (ratio: number | null) => (ratio === null ? '–' : `${Math.round(ratio * 100)} %`);

/**
 * The terminal summary: one row per scenario, concurrency and server, with its ratio to the
 * limit in requests/second and in CPU time per request; then statements, memory, replication
 * and restore.
 */
export function formatReport(result: BenchResult): string {
  const throughput = table([
    'scenario',
    'conns',
    'server',
    'req/s',
    '÷ limit',
    'CPU ms/req',
    'CPU: limit ÷',
    'cores + load',
    'p99 ms',
    'peak RSS',
  ]);
  for (const row of result.throughput) {
    throughput.push([
      row.scenario,
      row.connections,
      row.server,
      Math.round(row.rps),
      isLimit(row.server) ? '' : pct(row.ratioToLimit),
      row.cpuMsPerRequest.toFixed(2),
      isLimit(row.server) ? '' : pct(row.cpuRatioToLimit),
      `${row.cores.server.toFixed(2)} + ${row.cores.load.toFixed(2)}`,
      row.latencyP99Ms,
      mb(row.peakRssBytes),
    ]);
  }
  const lines = [throughput.toString()];
  // Where the limit has two forms, say which the ratios were taken to.
  for (const row of result.throughput.filter((r) => r.server.startsWith('limit+statement'))) {
    const forms = limitRowsBeside(result.throughput, row);
    if (forms.length < 2) continue;
    const fastest = (by: (r: ThroughputRow) => number) => forms.reduce((a, b) => (by(b) < by(a) ? b : a)).server;
    lines.push(
      `${row.scenario} · ${row.server} · ${row.connections} conn: ratios to ${fastest((r) => -r.rps)} in req/s, to ${fastest((r) => r.cpuMsPerRequest)} in CPU time (the faster form of the limit in each)`,
    );
  }
  const failures = result.throughput.filter((row) => row.failures > 0);
  for (const row of failures)
    lines.push(`! ${row.scenario} · ${row.server} · ${row.connections}: ${row.failures} failed requests`);

  const statements = table(['scenario', 'page size', 'SQL statements / request']);
  for (const s of result.statements) statements.push([s.scenario, s.pageSize ?? '', s.statements]);
  lines.push(statements.toString());

  const memory = table(['server', 'peak RSS under load', 'each process at the end of its last run']);
  for (const [server, bytes] of Object.entries(result.peakRssBytes)) {
    const last = result.throughput.filter((row) => row.server === server).at(-1);
    memory.push([server, mb(bytes), last?.processRssBytes.map(mb).join(' + ') ?? '']);
  }
  lines.push(memory.toString());

  if (result.replication) {
    const { lagMs, syncInterval } = result.replication;
    lines.push(
      `replication lag (commit → replica, ${lagMs.samples} writes, sync interval ${syncInterval}): p50 ${lagMs.p50} ms, p99 ${lagMs.p99} ms, max ${lagMs.max} ms`,
    );
    // Both beside a Litestream: the service's own cost of replicating, without Litestream's.
    for (const limit of result.throughput.filter((row) => row.server === REPLICATED_LIMIT)) {
      const service = result.throughput.find(
        (row) => row.server === REPLICATED_SERVICE && row.connections === limit.connections,
      );
      if (!service) continue;
      lines.push(
        `replication on for both, ${limit.connections} conn: service ÷ limit ${pct(service.rps / limit.rps)} in req/s, ${pct(limit.cpuMsPerRequest / service.cpuMsPerRequest)} in CPU time`,
      );
    }
  }
  if (result.restore.length) {
    const restore = table([
      'database',
      'reviews-api restore',
      '--check full',
      'litestream restore',
      'cp',
      'cp + fsync',
      'restore ÷ cp',
      'restore ÷ litestream',
      'litestream ÷ cp',
    ]);
    const ratio = (a: number, b: number) => (a / Math.max(1, b)).toFixed(1);
    for (const r of result.restore) {
      restore.push([
        mb(r.databaseBytes),
        `${r.restoreCommandMs} ms`,
        `${r.restoreFullCheckMs} ms`,
        `${r.litestreamRestoreMs} ms`,
        `${r.copyMs} ms`,
        `${r.durableCopyMs} ms`,
        ratio(r.restoreCommandMs, r.copyMs),
        ratio(r.restoreCommandMs, r.litestreamRestoreMs),
        ratio(r.litestreamRestoreMs, r.copyMs),
      ]);
    }
    lines.push(restore.toString());
  }
  return `${lines.join('\n')}\n`;
}
