import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ReplicationSettings } from './settings.ts';
import { replicaTarget } from './settings.ts';

/**
 * One WAL segment Litestream 0.3.13 shipped: `generations/<gen>/wal/<index>_<offset>.wal.lz4`,
 * the bytes of WAL file `index` from byte `offset` on, as one LZ4 frame. Index and offset are
 * 8 hex digits, so names sort in the order the bytes were written.
 */
export interface Segment {
  name: string;
  index: number;
  offset: number;
}

const SEGMENT_NAME = /^([0-9a-f]{8})_([0-9a-f]{8})\.wal\.lz4$/;

export function parseSegmentName(name: string): Segment | null {
  const match = SEGMENT_NAME.exec(name);
  return match
    ? { name, index: Number.parseInt(match[1] ?? '', 16), offset: Number.parseInt(match[2] ?? '', 16) }
    : null;
}

/**
 * The S3 SDK and LZ4 are imported when a replica is first read: together ~30 MB of RSS, carried
 * for nothing by every node that never follows one (a primary, a read worker).
 */
const decompressed = async (frame: Buffer) => (await import('lz4-napi')).decompressFrameSync(frame);

const bySegmentName = (a: Segment, b: Segment) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The part of a replica a standby follows: its generations and their WAL, read directly. */
export interface ReplicaStore {
  /** The generations the replica holds, by name. */
  generations(): Promise<string[]>;
  /** A generation's WAL segments named after `after` (all when null), in order. */
  segmentsAfter(generation: string, after: string | null): Promise<Segment[]>;
  /** A segment's WAL bytes, decompressed. */
  read(generation: string, segment: Segment): Promise<Buffer>;
  /** Lets go of open connections. */
  close(): void;
}

/** The store behind REPLICA_URL: a directory, or an S3-compatible bucket with Litestream's credentials. */
export function openReplicaStore(settings: ReplicationSettings): ReplicaStore {
  const target = replicaTarget(settings);
  return target.kind === 'directory' ? directoryStore(target.path) : s3Store(target.url, target.endpoint);
}

/** A directory's entries; none when it does not exist (yet). */
const namesIn = (directory: string) =>
  readdir(directory).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });

function directoryStore(root: string): ReplicaStore {
  const walDirectory = (generation: string) => join(root, 'generations', generation, 'wal');
  return {
    generations: () => namesIn(join(root, 'generations')),
    async segmentsAfter(generation, after) {
      // A generation's first WAL segment can follow its snapshot by a sync interval.
      const names = await namesIn(walDirectory(generation));
      return names
        .map(parseSegmentName)
        .filter((segment): segment is Segment => segment !== null && (after === null || segment.name > after))
        .sort(bySegmentName);
    },
    async read(generation, segment) {
      return decompressed(await readFile(join(walDirectory(generation), segment.name)));
    },
    close() {},
  };
}

/**
 * Litestream's own reading of an S3 replica: `s3://bucket/path`, path-style addressing and a
 * placeholder region for a custom endpoint (MinIO, R2...), and its credential variables before
 * the SDK's usual chain.
 */
function s3Store(url: string, endpoint: string | null): ReplicaStore {
  const { host: bucket, pathname } = new URL(url);
  const prefix = pathname.replace(/^\/+|\/+$/g, '');
  const key = (...parts: string[]) => [prefix, ...parts].filter(Boolean).join('/');
  const accessKeyId = process.env.LITESTREAM_ACCESS_KEY_ID;
  const secretAccessKey = process.env.LITESTREAM_SECRET_ACCESS_KEY;
  let connecting: Promise<{ sdk: typeof import('@aws-sdk/client-s3'); client: S3Client }> | undefined;
  const connected = () => {
    connecting ??= import('@aws-sdk/client-s3').then((sdk) => ({
      sdk,
      client: new sdk.S3Client({
        ...(endpoint && { endpoint, forcePathStyle: true }),
        region: process.env.AWS_REGION ?? 'us-east-1',
        // Litestream finds an AWS bucket's region itself; the SDK follows S3's redirect to it.
        followRegionRedirects: true,
        ...(accessKeyId && secretAccessKey && { credentials: { accessKeyId, secretAccessKey } }),
      }),
    }));
    return connecting;
  };
  async function* listed(input: { Prefix: string; Delimiter?: string; StartAfter?: string }) {
    const { sdk, client } = await connected();
    let ContinuationToken: string | undefined;
    do {
      const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: bucket, ...input, ContinuationToken }));
      yield page;
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }
  return {
    async generations() {
      const names: string[] = [];
      const Prefix = `${key('generations')}/`;
      for await (const page of listed({ Prefix, Delimiter: '/' })) {
        for (const common of page.CommonPrefixes ?? []) names.push((common.Prefix ?? '').slice(Prefix.length, -1));
      }
      return names;
    },
    async segmentsAfter(generation, after) {
      const Prefix = `${key('generations', generation, 'wal')}/`;
      const segments: Segment[] = [];
      for await (const page of listed({ Prefix, ...(after && { StartAfter: Prefix + after }) })) {
        for (const object of page.Contents ?? []) {
          const segment = parseSegmentName((object.Key ?? '').slice(Prefix.length));
          if (segment) segments.push(segment);
        }
      }
      return segments.sort(bySegmentName);
    },
    async read(generation, segment) {
      const { sdk, client } = await connected();
      const object = await client.send(
        new sdk.GetObjectCommand({ Bucket: bucket, Key: key('generations', generation, 'wal', segment.name) }),
      );
      if (!object.Body) throw new Error(`empty WAL segment ${segment.name}`);
      return decompressed(Buffer.from(await object.Body.transformToByteArray()));
    },
    close() {
      void connecting?.then(({ client }) => client.destroy());
    },
  };
}
