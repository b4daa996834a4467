import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bin/reviews-api.js', import.meta.url));

export interface LogEntry {
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface NodeProcess {
  name: string;
  url: string;
  child: ChildProcess;
  logs: LogEntry[];
  /** Resolves with the first log entry with this message (already printed or to come), logged at `since` or later. */
  waitForLog(msg: string, timeoutMs: number, since?: number): Promise<LogEntry>;
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` (SIGTERM: graceful) and waits for the exit; SIGKILL after 20 s. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartNode {
  name: string;
  port: number;
  env: Record<string, string>;
  /** `serve`, or `standby` for the primary at this URL. */
  primaryUrl?: string;
  /** Every line the process prints is appended here too, for a post-mortem. */
  logFile: string;
}

/** `reviews-api serve` or `standby --primary URL` on a fixed loopback port, once it listens. */
export async function startNode({ name, port, env, primaryUrl, logFile }: StartNode): Promise<NodeProcess> {
  const args = primaryUrl ? ['standby', '--primary', primaryUrl] : ['serve'];
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, WORKERS: '1', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // WORKERS > 1: a fault strikes every reviews-api process of the host (the supervisor and what
  // it forked) as it strikes the one process at WORKERS=1; Litestream, their child, is spared then too.
  const kill = (signal: NodeJS.Signals) => {
    const host = (env.WORKERS ?? '1') === '1' ? [] : processesForkedBy(child.pid as number);
    for (const pid of [...host, child.pid as number]) {
      try {
        process.kill(pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  };
  const logs: LogEntry[] = [];
  const waiters = new Set<(entry: LogEntry) => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    appendFileSync(logFile, `${line}\n`);
    try {
      const entry = JSON.parse(line) as LogEntry;
      logs.push(entry);
      for (const waiter of waiters) waiter(entry);
    } catch {
      // Not a log line.
    }
  });
  const waitForLog = (msg: string, timeoutMs: number, since = 0) =>
    new Promise<LogEntry>((resolve, reject) => {
      const seen = logs.find((entry) => entry.msg === msg && entry.time >= since);
      if (seen) return resolve(seen);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${name}: no "${msg}" within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const waiter = (entry: LogEntry) => {
        if (entry.msg !== msg || entry.time < since) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(entry);
      };
      waiters.add(waiter);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        waiters.delete(waiter);
        reject(new Error(`${name} exited (${code ?? signal}) before "${msg}": ${stderr}`));
      });
    });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const node: NodeProcess = {
    name,
    url: `http://127.0.0.1:${port}`,
    child,
    logs,
    waitForLog,
    signal: (signal) => {
      if (!exited()) kill(signal);
    },
    async stop(signal = 'SIGTERM') {
      if (exited()) return;
      const done = once(child, 'exit');
      // A frozen process would never handle SIGTERM.
      kill('SIGCONT');
      // A graceful signal goes to the supervisor alone: it stops the host's processes in order.
      if (signal === 'SIGKILL') kill(signal);
      else child.kill(signal);
      const force = setTimeout(() => kill('SIGKILL'), 20_000);
      await done;
      clearTimeout(force);
    },
  };
  try {
    await waitForLog('listening', 60_000);
  } catch (error) {
    await node.stop('SIGKILL');
    throw error;
  }
  return node;
}

/** The direct children of a process (Linux /proc); none once it is gone. */
function processesForkedBy(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
