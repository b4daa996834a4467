import CliTable from 'cli-table3';

/** Plain tables: the same bytes on a terminal and in a CI log. */
const table = (head: string[]) => new CliTable({ head, style: { head: [], border: [] } });

import type { BenchResult, MeasuredServer } from './run.ts';

const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const pct = (ratio: number | null) => (ratio === null ? '–' : `${Math.round(ratio * 100)} %`);

/** The terminal summary: throughput and ratio to the limit per scenario and concurrency, then the rest. */
export function formatReport(result: BenchResult): string {
  const servers = [...new Set(result.throughput.map((row) => row.server))];
  const compared = servers.filter((s): s is Exclude<MeasuredServer, 'limit'> => s !== 'limit');
  const throughput = table([
    'scenario',
    'conns',
    'limit req/s',
    ...compared.flatMap((s) => [`${s} req/s`, '÷ limit']),
    'service p99 ms',
  ]);
  const keys = [...new Set(result.throughput.map((row) => `${row.scenario}|${row.connections}`))];
  for (const key of keys) {
    const [scenario, connections] = key.split('|');
    const rows = result.throughput.filter((r) => r.scenario === scenario && String(r.connections) === connections);
    const of = (server: MeasuredServer) => rows.find((r) => r.server === server);
    const cells = compared.flatMap((server) => {
      const row = of(server);
      return row ? [Math.round(row.rps), pct(row.ratioToLimit), pct(row.cpuRatioToLimit)] : ['', '', ''];
    });
    throughput.push([
      scenario ?? '',
      connections ?? '',
      Math.round(of('limit')?.rps ?? 0),
      ...cells,
      of('service')?.latencyP99Ms ?? '',
    ]);
  }
  const lines = [throughput.toString()];
  const failures = result.throughput.filter((row) => row.failures > 0);
  for (const row of failures)
    lines.push(`! ${row.scenario} · ${row.server} · ${row.connections}: ${row.failures} failed requests`);

  const statements = table(['scenario', 'page size', 'SQL statements / request']);
  for (const s of result.statements) statements.push([s.scenario, s.pageSize ?? '', s.statements]);
  lines.push(statements.toString());

  const memory = table(['server', 'peak RSS under load']);
  for (const [server, bytes] of Object.entries(result.peakRssBytes)) memory.push([server, mb(bytes)]);
  lines.push(memory.toString());

  if (result.replication) {
    const { lagMs, syncInterval } = result.replication;
    lines.push(
      `replication lag (commit → replica, ${lagMs.samples} writes, sync interval ${syncInterval}): p50 ${lagMs.p50} ms, p99 ${lagMs.p99} ms, max ${lagMs.max} ms`,
    );
  }
  if (result.restore.length) {
    const restore = table([
      'database',
      'reviews-api restore',
      'litestream restore',
      'cp',
      'restore ÷ cp',
      'litestream ÷ cp',
    ]);
    for (const r of result.restore) {
      restore.push([
        mb(r.databaseBytes),
        `${r.restoreCommandMs} ms`,
        `${r.litestreamRestoreMs} ms`,
        `${r.copyMs} ms`,
        (r.restoreCommandMs / Math.max(1, r.copyMs)).toFixed(1),
        (r.litestreamRestoreMs / Math.max(1, r.copyMs)).toFixed(1),
      ]);
    }
    lines.push(restore.toString());
  }
  return `${lines.join('\n')}\n`;
}
