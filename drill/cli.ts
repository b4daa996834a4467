import { Command, InvalidArgumentError, Option } from 'commander';
import { type DrillOptions, runDrill } from './drill.ts';
import { formatComparison, formatDrill, writeDrillJson } from './report.ts';
import { parseSize, seededDatabase } from './seeded-database.ts';

const size = (value: string) => {
  try {
    return parseSize(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const integer = (min: number) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new InvalidArgumentError(`an integer ≥ ${min}`);
  return parsed;
};

const program = new Command('drill')
  .description(
    "Failover drill: S3 emulator, lease service, a primary, standbys and nginx on loopback, every node serving; kills and freezes the primary under load and reports recovery time (RTO), lost writes (RPO), reads per node, the standbys' lag and read-your-writes.",
  )
  .option('--cycles <n>', 'cycles that SIGKILL the primary (roles swap each time)', integer(0), 3)
  .option(
    '--freeze-cycles <n>',
    'cycles that SIGSTOP the primary, then SIGCONT it after the standby promoted',
    integer(0),
    1,
  )
  .addOption(new Option('--lease <kind>', 'the lease service').choices(['file', 'etcd']).default('file'))
  .addOption(
    new Option('--replica <kind>', 'where Litestream replicates: the S3 emulator, or a directory')
      .choices(['s3', 'directory'])
      .default('s3'),
  )
  .option('--standbys <n>', 'standbys beside the primary, every node behind nginx serving reads', integer(1), 1)
  .option('--workers <n>', 'WORKERS on every node (1: a single process each)', integer(1), 1)
  .option('--writers <n>', 'concurrent writers (createReview / addComment with idempotencyKey)', integer(1), 6)
  .option('--readers <n>', 'concurrent readers', integer(0), 2)
  .option(
    '--ryw-clients <n>',
    'read-your-writes clients (write through a node, read back through nginx)',
    integer(0),
    4,
  )
  .option('--warmup-ms <ms>', 'load before each fault', integer(0), 3000)
  .option('--heartbeat-interval-ms <ms>', 'HEARTBEAT_INTERVAL_MS for both nodes', integer(50), 500)
  .option('--heartbeat-misses <n>', 'HEARTBEAT_MISSES for both nodes', integer(1), 3)
  .option('--sync-interval <duration>', 'REPLICA_SYNC_INTERVAL for both nodes', '1s')
  .addOption(
    new Option(
      '--durability <mode>',
      'DURABILITY for both nodes; both: a local drill, then a replicated one, compared side by side',
    )
      .choices(['local', 'replicated', 'both'])
      .default('local'),
  )
  .option(
    '--db-size <size>',
    "start from a database of this size (10MB, 100MB, 1GB, …) from the bench's generator, seeded once into .tmp/drill-datasets and reused",
    size,
  )
  .option('--snapshot-interval <duration>', 'REPLICA_SNAPSHOT_INTERVAL for both nodes (a full snapshot this often)')
  .option(
    '--cpu-hogs <n>',
    'busy-looping processes beside the nodes for the whole drill (a host loaded on purpose)',
    integer(0),
    0,
  )
  .option('--max-duration-s <s>', 'stop everything and fail past this', integer(10), 300)
  .option('--keep', 'keep the temp directory: node logs, databases, nginx configuration', false)
  .option('--out <dir>', 'where the JSON result goes', 'bench/results')
  .action(async (flags) => {
    const modes: DrillOptions['durability'][] =
      flags.durability === 'both' ? ['local', 'replicated'] : [flags.durability];
    const results = [];
    // Seeded before any drill's clock starts: at 1 GB it takes about a minute, once.
    const seeded =
      flags.dbSize === undefined
        ? null
        : seededDatabase(flags.dbSize, (bytes) =>
            process.stderr.write(`drill: seeding, ${Math.round(bytes / 1e6)} MB\r`),
          );
    if (seeded) {
      const how = seeded.seededMs === null ? 'cached' : `seeded in ${(seeded.seededMs / 1000).toFixed(1)} s`;
      process.stderr.write(`drill: database of ${Math.round(seeded.bytes / 1e6)} MB (${how}): ${seeded.path}\n`);
    }
    for (const durability of modes) {
      const options: DrillOptions = {
        killCycles: flags.cycles,
        freezeCycles: flags.freezeCycles,
        lease: flags.lease,
        replica: flags.replica,
        writers: flags.writers,
        workers: flags.workers,
        readers: flags.readers,
        rywClients: flags.rywClients,
        warmupMs: flags.warmupMs,
        heartbeatIntervalMs: flags.heartbeatIntervalMs,
        heartbeatMisses: flags.heartbeatMisses,
        syncInterval: flags.syncInterval,
        durability,
        maxDurationMs: flags.maxDurationS * 1000,
        keep: flags.keep,
        seeded,
        snapshotInterval: flags.snapshotInterval ?? null,
        cpuHogs: flags.cpuHogs,
        standbys: flags.standbys,
      };
      const result = await runDrill(options, (line) => process.stderr.write(`drill (${durability}): ${line}\n`));
      process.stdout.write(`${formatDrill(result)}\n`);
      process.stdout.write(`results: ${writeDrillJson(result, flags.out)}\n\n`);
      results.push(result);
    }
    if (results.length > 1) process.stdout.write(`${formatComparison(results)}\n`);
    if (results.some((result) => !result.ok)) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`drill: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
