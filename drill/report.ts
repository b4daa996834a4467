import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DrillResult } from './drill.ts';

/** Plain-text columns, each as wide as its widest cell, under a header and a dashed rule. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), line(header.map((title) => '-'.repeat(title.length))), ...rows.map(line)];
}

/** The drill as a table a person reads: one row per fault, then the totals. */
export function formatDrill(result: DrillResult): string {
  const header = [
    'cycle',
    'fault',
    'from→to',
    'RTO ms',
    'detect ms',
    'promote ms',
    'lost writes',
    'reads during',
    'writes on old',
    'old node answers',
  ];
  const rows = result.cycles.map((cycle) => [
    String(cycle.cycle),
    cycle.fault,
    `${cycle.from}→${cycle.to}`,
    String(cycle.rtoMs),
    String(cycle.detectMs),
    String(cycle.promoteMs),
    String(cycle.lostWrites),
    `${cycle.readsDuring.ok}/${cycle.readsDuring.total}`,
    String(cycle.writesOnOldPrimary),
    cycle.oldNodeAnswer,
  ]);
  const { options, writes, rpo, reads } = result;
  const { lagMs: lag, readYourWrites: ryw } = result.everyNode;
  const database = options.seeded ? `${Math.round(options.seeded.bytes / 1e6)} MB database` : 'empty database';
  const extras = [
    options.snapshotInterval && `snapshot every ${options.snapshotInterval}`,
    options.cpuHogs > 0 && `${options.cpuHogs} CPU hogs`,
  ].filter(Boolean);
  return [
    `failover drill: ${database}, ${options.standbys + 1} nodes, durability ${options.durability}, lease ${options.lease}, replica ${options.replica}, heartbeat ${options.heartbeatIntervalMs} ms × ${options.heartbeatMisses}, sync ${options.syncInterval}${extras.map((extra) => `, ${extra}`).join('')}`,
    '',
    ...table(header, rows),
    '',
    ...formatSteps(result),
    '',
    `writes: ${writes.started} started, ${writes.acknowledged} acknowledged (${writes.perSecond}/s), ${writes.refused} refused, ${writes.gaveUp} given up`,
    `mutation latency (acknowledged attempt): p50 ${result.mutationLatencyMs.p50} ms, p99 ${result.mutationLatencyMs.p99} ms`,
    `reads: ${reads.ok} of ${reads.total} answered${reads.ok < reads.total ? ` (the others: ${JSON.stringify(reads.failures)})` : ''}; share per node ${formatShares(result.everyNode.readShare)}`,
    `standby lag (ms, /ready every 250 ms): p50 ${lag.p50} p99 ${lag.p99} max ${lag.max} over ${lag.samples} samples; outside failovers (fault → every standby follows the new primary) p50 ${lag.outsideFailovers.p50} p99 ${lag.outsideFailovers.p99} max ${lag.outsideFailovers.max} over ${lag.outsideFailovers.samples}`,
    `read-your-writes: ${ryw.violations} violations in ${ryw.pairs} write-then-read pairs (write through one node, read through nginx at once; ${ryw.skipped} pairs skipped mid-failover: ${JSON.stringify(ryw.skippedBy)})`,
    `RPO: ${rpo.missing.length} acknowledged writes missing from the final database (one sync interval of traffic: ${rpo.syncIntervalOfTraffic} writes)${
      rpo.missing.length
        ? ` (${rpo.missing
            .slice(0, 5)
            .map((write) => write.key)
            .join(', ')}${rpo.missing.length > 5 ? ', …' : ''})`
        : ''
    }; ${rpo.duplicated.length} duplicated by retries; ${rpo.unacknowledgedPresent} unacknowledged writes landed`,
    `split brain: ${result.splitBrainWrites} writes acknowledged by a node without the lease`,
    `lease outside the faults: ${result.lease.unfaultedLosses} lost by a node never faulted (${result.lease.regained} taken up again by it), ${result.lease.falseFailovers} takeovers from a live primary`,
    `verdict: ${result.ok ? 'ok' : 'FAILED'} (${(result.durationMs / 1000).toFixed(1)} s)`,
  ].join('\n');
}

const formatShares = (shares: Record<string, number>) =>
  Object.entries(shares)
    .map(([name, share]) => `${name} ${(share * 100).toFixed(1)} %`)
    .join(', ');

/**
 * Each cycle's promotion step by step (as the standby logged them), and the two figures beside
 * it that grow with the database: the restarted node's start-up restore, and how long the new
 * primary's generation took to reach the replica.
 */
function formatSteps(result: DrillResult): string[] {
  const steps = [...new Set(result.cycles.flatMap((cycle) => Object.keys(cycle.promoteSteps)))];
  const header = [
    'cycle',
    'attempts',
    ...steps.map((name) => `${name} ms`),
    'standby start ms',
    'in replica ms',
    'standby follows ms',
  ];
  const rows = result.cycles.map((cycle) => [
    String(cycle.cycle),
    String(cycle.promoteAttempts),
    ...steps.map((name) => String(cycle.promoteSteps[name] ?? '-')),
    String(cycle.standbyStartMs),
    String(cycle.generationInReplicaMs),
    String(cycle.standbyFollowsMs),
  ]);
  return [
    'promotion steps ("restore: …" are parts of "restore and integrity check", the fallback when the standby could not follow):',
    ...table(header, rows),
  ];
}

/** Drills of the same faults under each DURABILITY mode, one row per mode. */
export function formatComparison(results: DrillResult[]): string {
  const header = [
    'durability',
    'RPO (acked writes lost)',
    'RTO ms (median / max)',
    'writes/s',
    'p50 ms',
    'p99 ms',
    'verdict',
  ];
  const rows = results.map((result) => {
    const rtos = result.cycles.map((cycle) => cycle.rtoMs).sort((a, b) => a - b);
    return [
      result.options.durability,
      `${result.rpo.missing.length} of ${result.writes.acknowledged}`,
      rtos.length ? `${rtos[rtos.length >> 1]} / ${rtos.at(-1)}` : '-',
      String(result.writes.perSecond),
      String(result.mutationLatencyMs.p50),
      String(result.mutationLatencyMs.p99),
      result.ok ? 'ok' : 'FAILED',
    ];
  });
  const { writers, syncInterval, killCycles, freezeCycles } = results[0]?.options ?? ({} as DrillResult['options']);
  return [
    `both modes, ${writers} writers, sync ${syncInterval}, ${killCycles} kills + ${freezeCycles} freezes each`,
    '',
    ...table(header, rows),
  ].join('\n');
}

/** Writes the full result (every cycle and figure) as JSON; returns the path. */
export function writeDrillJson(result: DrillResult, directory: string): string {
  mkdirSync(directory, { recursive: true });
  const path = join(directory, `drill-${result.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify(result, null, 2)}\n`);
  return path;
}
