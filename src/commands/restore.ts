import type { Config } from '../config.ts';
import {
  CHECK_PRAGMA,
  listGenerations,
  markRestored,
  type RestoreCheck,
  RestoreError,
  restoreReplica,
} from '../replication/restore.ts';
import { describeReplica, replicaTarget } from '../replication/settings.ts';

export interface RestoreCommandOptions {
  output?: string;
  timestamp?: Date;
  latest?: boolean;
  force?: boolean;
  list?: boolean;
  check?: RestoreCheck;
}

/** `reviews-api restore`: prints what it did; a RestoreError is the caller's one-line failure. */
export async function restoreCommand(config: Config, options: RestoreCommandOptions): Promise<void> {
  if (options.list) {
    const generations = await listGenerations(config);
    const replica = describeReplica(replicaTarget(config));
    if (generations.length === 0) throw new RestoreError(`no backups found in the replica at ${replica}`);
    process.stdout.write(`replica ${replica}\ngeneration        from                  to\n`);
    for (const { generation, start, end } of generations) {
      process.stdout.write(`${generation}  ${iso(start)}  ${iso(end)}\n`);
    }
    return;
  }
  if (!options.output) throw new RestoreError('--output PATH is required (or --list)');
  if (options.timestamp && options.latest) throw new RestoreError('--timestamp and --latest exclude each other');
  const result = await restoreReplica(config, {
    output: options.output,
    ...(options.timestamp && { timestamp: options.timestamp }),
    force: options.force ?? false,
    ...(options.check && { check: options.check }),
  });
  const what = options.timestamp ? `as of ${options.timestamp.toISOString()}` : 'the latest copy';
  await markRestored(result.output, { restored: what, at: new Date().toISOString() });
  process.stdout.write(
    `restored ${what} to ${result.output} (${result.bytes} bytes, ${result.durationMs} ms, ${CHECK_PRAGMA[result.check]} ok` +
      `${result.pendingMigrations.length ? `, ${result.pendingMigrations.length} migrations pending` : ''})\n`,
  );
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/** An ISO-8601 moment with its offset: a time without one would depend on the host's zone. */
export function parseTimestamp(text: string): Date {
  const date = new Date(text);
  if (!ISO_8601.test(text) || Number.isNaN(date.getTime())) {
    throw new RestoreError(`--timestamp: ${text} is not an ISO-8601 time with an offset, e.g. 2026-11-25T10:30:00Z`);
  }
  return date;
}

/** Seconds precision, as Litestream reports generation bounds. */
const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
