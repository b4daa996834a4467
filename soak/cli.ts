import { DEFAULT_SOAK, formatReport, runSoak } from './soak.ts';

/**
 * `npm run soak`: SOAK_SECONDS (default 30) and SOAK_CLIENTS (default 16) size the run;
 * SOAK_WORKERS (default 1) is the server's WORKERS.
 * Prints the figures, and exits 1 when any check failed.
 */
const seconds = Number(process.env.SOAK_SECONDS ?? DEFAULT_SOAK.durationMs / 1000);
const clients = Number(process.env.SOAK_CLIENTS ?? DEFAULT_SOAK.clients);
const workers = Number(process.env.SOAK_WORKERS ?? DEFAULT_SOAK.workers);
const count = (n: number, max: number) => Number.isInteger(n) && n > 0 && n <= max;
if (!(seconds > 0 && seconds <= 3600) || !count(clients, 256) || !count(workers, 256)) {
  console.error('SOAK_SECONDS must be 1..3600, SOAK_CLIENTS 1..256 and SOAK_WORKERS 1..256');
  process.exit(2);
}
const report = await runSoak({ ...DEFAULT_SOAK, durationMs: seconds * 1000, clients, workers });
console.log(formatReport(report));
process.exitCode = report.ok ? 0 : 1;
