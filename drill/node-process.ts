import { CLI, type ServerProcess, startServerProcess } from '../harness/server-process.ts';

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
