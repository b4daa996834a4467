/**
 * Litestream's Prometheus metrics, read back: which WAL its copy (the shadow WAL) is on and
 * how far each replica has got. Shared by /ready, replicated durability and the standby.
 */

export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g;

/** The text exposition format, samples only (comments and blank lines skipped). */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (!match || line.startsWith('#')) continue;
    const [, name = '', labelText = '', value = ''] = match;
    const labels: Record<string, string> = {};
    for (const [, key, raw] of labelText.matchAll(LABEL)) {
      if (key) labels[key] = (raw ?? '').replace(/\\(["\\])/g, '$1').replace(/\\n/g, '\n');
    }
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

/** A position in a database's WAL history: which WAL (index) and how many bytes into it. */
export interface WalPosition {
  index: number;
  offset: number;
}

export interface ReplicaMetrics {
  name: string;
  position: WalPosition;
}

export interface LitestreamDatabaseMetrics {
  databasePath: string;
  dbSize: number;
  walSize: number;
  /** The WAL index Litestream copies into now (its shadow WAL). */
  shadowIndex: number;
  /**
   * The total size of the shadow WAL files Litestream still keeps: every index not yet shipped
   * and removed, so after a checkpoint the old WAL and the new one together. Not a position:
   * ShadowWalIndexes.position() reads that from the shadow WAL itself.
   */
  shadowWalBytes: number;
  replicas: ReplicaMetrics[];
  syncs: number;
  syncErrors: number;
  checkpoints: number;
}

/** The figures for one database (Litestream labels them with its absolute path), or null. */
export function databaseMetrics(samples: PrometheusSample[], databasePath: string): LitestreamDatabaseMetrics | null {
  const ofDatabase = samples.filter((sample) => sample.labels.db === databasePath);
  if (ofDatabase.length === 0) return null;
  const sum = (name: string) =>
    ofDatabase.filter((sample) => sample.name === name).reduce((total, sample) => total + sample.value, 0);
  const names = [...new Set(ofDatabase.map((sample) => sample.labels.name).filter((name) => name !== undefined))];
  const replicaValue = (name: string, metric: string) =>
    ofDatabase.find((sample) => sample.name === metric && sample.labels.name === name)?.value ?? 0;
  return {
    databasePath,
    dbSize: sum('litestream_db_size'),
    walSize: sum('litestream_wal_size'),
    shadowIndex: sum('litestream_shadow_wal_index'),
    shadowWalBytes: sum('litestream_shadow_wal_size'),
    replicas: names
      .filter((name) =>
        ofDatabase.some((sample) => sample.name === 'litestream_replica_wal_index' && sample.labels.name === name),
      )
      .map((name) => ({
        name,
        position: {
          index: replicaValue(name, 'litestream_replica_wal_index'),
          offset: replicaValue(name, 'litestream_replica_wal_offset'),
        },
      })),
    syncs: sum('litestream_sync_count'),
    syncErrors: sum('litestream_sync_error_count'),
    checkpoints: sum('litestream_checkpoint_count'),
  };
}

/** Fetches and reads Litestream's metrics for one database; throws if they are not there. */
export async function readLitestreamMetrics(
  url: string,
  databasePath: string,
  { timeoutMs = 2000 }: { timeoutMs?: number } = {},
): Promise<LitestreamDatabaseMetrics> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`Litestream metrics answered ${response.status}`);
  const metrics = databaseMetrics(parsePrometheusText(await response.text()), databasePath);
  if (!metrics) throw new Error(`Litestream reports nothing for ${databasePath}`);
  return metrics;
}

/**
 * Bytes written to the database that `replica` does not have yet, given the local end of the
 * WAL. Within one WAL index, positions are byte offsets of the same file; when the replica is
 * still on an earlier index, at least everything in the current WAL is missing from it.
 */
export function bytesBehind(local: WalPosition, replica: WalPosition): number {
  if (replica.index > local.index) return 0;
  if (replica.index < local.index) return local.offset;
  return Math.max(0, local.offset - replica.offset);
}
