import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { untilListening } from '../../src/http/listening.ts';

export const CLI = fileURLToPath(new URL('../../bin/reviews-api.js', import.meta.url));

export interface Served {
  child: ChildProcess;
  url: string;
  /** Every JSON log line the process printed so far. */
  logs: Record<string, unknown>[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `reviews-api serve` on an ephemeral port and resolves once it listens. */
export async function startServe(env: Record<string, string>): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const url = (await untilListening(child, { onEntry: (entry) => logs.push(entry) })).replace(/\/graphql$/, '');
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    // A child that already exited (by itself or by a signal) emits no further 'exit'.
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill(signal);
    const [code] = (await once(child, 'exit')) as [number | null];
    return code;
  };
  return { child, url, logs, stop };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}
