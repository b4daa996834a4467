import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, type ServerProcess, startServerProcess } from '../harness/server-process.ts';
import { freePort } from './ports.ts';

export type NodeProcess = ServerProcess;

export interface StartNode {
  name: string;
  port: number;
  env: Record<string, string>;
  /** `serve`, or `standby` for the primary at this URL. */
  primaryUrl?: string;
  /** Every line the process prints is appended here too, for a post-mortem. */
  logFile: string;
  /** How long it may take to listen (a standby restores the whole database first). */
  timeoutMs?: number;
}

/** `reviews-api serve` or `standby --primary URL` on a fixed loopback port, once it listens. */
export function startNode({ name, port, env, primaryUrl, logFile, timeoutMs }: StartNode): Promise<NodeProcess> {
  const command = primaryUrl ? [CLI, 'standby', '--primary', primaryUrl] : [CLI, 'serve'];
  return startServerProcess({ name, command, env, port, logFile, timeoutMs });
}

/**
 * A node named `name` with a directory of its own under `dir` (its DATABASE_PATH there, its log
 * beside it), on `port` or a free one.
 */
export async function startNodeIn(
  dir: string,
  name: string,
  env: Record<string, string>,
  { primaryUrl, port }: { primaryUrl?: string; port?: number } = {},
): Promise<NodeProcess> {
  mkdirSync(join(dir, name), { recursive: true });
  return startNode({
    name,
    port: port ?? (await freePort()),
    primaryUrl,
    logFile: join(dir, `${name}.log`),
    env: { ...env, DATABASE_PATH: join(dir, name, 'reviews.db') },
  });
}
