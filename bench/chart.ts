import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchResult } from './run.ts';

/**
 * The run as one SVG, drawn by Vega-Lite (compiled to Vega, rendered headless by Vega's own
 * SVG renderer): requests/second against concurrency per scenario, one line per server, and
 * restore time against database size beside a plain copy.
 */
export async function renderChart(result: BenchResult): Promise<string> {
  const throughput = result.throughput.map((row) => ({
    scenario: row.scenario,
    server: row.server,
    connections: row.connections,
    rps: Math.round(row.rps),
  }));
  const restore = result.restore.flatMap((r) => [
    { sizeMb: Math.round(r.databaseBytes / 1e6), method: 'reviews-api restore', seconds: r.restoreCommandMs / 1000 },
    { sizeMb: Math.round(r.databaseBytes / 1e6), method: 'litestream restore', seconds: r.litestreamRestoreMs / 1000 },
    { sizeMb: Math.round(r.databaseBytes / 1e6), method: 'cp (plain copy)', seconds: r.copyMs / 1000 },
  ]);
  const throughputChart = {
    title: `Throughput vs concurrency (${result.machine.cpus} cores, ${result.options.datasetName} dataset)`,
    data: { values: throughput },
    facet: { field: 'scenario', type: 'nominal', title: null },
    columns: 2,
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 280,
      height: 180,
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'connections',
          type: 'quantitative',
          scale: { type: 'log', base: 2 },
          axis: { values: result.options.connections, format: 'd' },
          title: 'connections',
        },
        y: { field: 'rps', type: 'quantitative', title: 'requests / s' },
        color: { field: 'server', type: 'nominal', title: 'server' },
      },
    },
  };
  const restoreChart = {
    title: 'Restore time vs database size',
    width: 600,
    height: 220,
    data: { values: restore },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'sizeMb', type: 'quantitative', scale: { type: 'log' }, title: 'database size (MB)' },
      y: { field: 'seconds', type: 'quantitative', title: 'seconds' },
      color: { field: 'method', type: 'nominal', title: null },
    },
  };
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    vconcat: restore.length ? [throughputChart, restoreChart] : [throughputChart],
    // Servers and restore methods are different things: one legend each.
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    config: { font: 'sans-serif', background: 'white' },
  } as TopLevelSpec;
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
