import { DEFAULT_SOAK, formatReport, runSoak } from './soak.ts';

/**
 * `npm run soak`: SOAK_SECONDS (default 30) and SOAK_CLIENTS (default 16) size the run.
 * Prints the figures, and exits 1 when any check failed.
 */
const seconds = Number(process.env.SOAK_SECONDS ?? DEFAULT_SOAK.durationMs / 1000);
const clients = Number(process.env.SOAK_CLIENTS ?? DEFAULT_SOAK.clients);
if (!(seconds > 0 && seconds <= 3600) || !(Number.isInteger(clients) && clients > 0 && clients <= 256)) {
  console.error('SOAK_SECONDS must be 1..3600 and SOAK_CLIENTS 1..256');
  process.exit(2);
}
const report = await runSoak({ ...DEFAULT_SOAK, durationMs: seconds * 1000, clients });
console.log(formatReport(report));
process.exitCode = report.ok ? 0 : 1;
