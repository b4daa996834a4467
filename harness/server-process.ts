import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LISTENING } from '../src/http/listening.ts';

/** The launcher every tool runs: it rebuilds dist/ first when a source changed. */
export const CLI = fileURLToPath(new URL('../bin/reviews-api.js', import.meta.url));
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface LogEntry {
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface ServerProcess {
  name: string;
  child: ChildProcess;
  /** Where it listens, without a path: `http://127.0.0.1:PORT`. */
  url: string;
  /** `url` + `/graphql`. */
  graphqlUrl: string;
  /** Every JSON log line the process printed so far. */
  logs: LogEntry[];
  /** Resolves with the first log entry with this message (already printed or to come), logged at `since` or later. */
  waitForLog(msg: string, timeoutMs: number, since?: number): Promise<LogEntry>;
  /** Sends a signal unless the process has exited. */
  signal(signal: NodeJS.Signals): void;
  /** Sends `signal` (SIGTERM: graceful) and resolves with the exit code; SIGKILL past `forceAfterMs`. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Resident memory now, in bytes (Linux /proc), of every process of the host (WORKERS > 1). */
  rss(): number;
  /** The same, one figure per process: the one started first, then those it forked. */
  rssByProcess(): number[];
  /** CPU time the host's processes used so far (user + system), in milliseconds (Linux /proc). */
  cpuMs(): number;
}

export interface StartServerProcess {
  /** Names the process in errors. */
  name?: string;
  /** The script and its arguments; the CLI's `serve` when absent. */
  command?: string[];
  env?: Record<string, string>;
  nodeFlags?: string[];
  /** 0 (the default): an ephemeral port, read back from the `listening` line. */
  port?: number;
  /** Every line the process prints is appended here too, for a post-mortem. */
  logFile?: string;
  /** How long it gets to listen: a busy machine, or the first start after an edit builds dist/. */
  timeoutMs?: number;
  /** How long a stop waits for a graceful exit before SIGKILL. */
  forceAfterMs?: number;
}

/**
 * Starts a server process on loopback and resolves once it logs {"msg":"listening","url"};
 * if it exits or stays silent first, it is killed and the error carries the end of its stderr.
 * The one way tests, the bench, the soak and the drill start a server.
 */
export async function startServerProcess(options: StartServerProcess = {}): Promise<ServerProcess> {
  const {
    name = 'reviews-api',
    command = [CLI, 'serve'],
    env = {},
    nodeFlags = [],
    port = 0,
    logFile,
    timeoutMs = 60_000,
    forceAfterMs = 20_000,
  } = options;
  const child = spawn(process.execPath, [...nodeFlags, ...command], {
    cwd: ROOT,
    // One process unless the caller asks for read workers (src/cluster/).
    env: { ...process.env, LOG_LEVEL: 'info', WORKERS: '1', ...env, HOST: '127.0.0.1', PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogEntry[] = [];
  const waiters = new Set<(entry: LogEntry) => void>();
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (logFile) appendFileSync(logFile, `${line}\n`);
    let entry: LogEntry;
    try {
      entry = JSON.parse(line) as LogEntry;
    } catch {
      return; // Not a log line.
    }
    logs.push(entry);
    for (const waiter of waiters) waiter(entry);
  });
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  // WORKERS > 1: the process is a supervisor, and the host is it and what it forked. At
  // WORKERS=1 its only child is Litestream, which a fault of the server must spare.
  const host = (): number[] =>
    child.pid === undefined ? [] : (env.WORKERS ?? '1') === '1' ? [child.pid] : [child.pid, ...childrenOf(child.pid)];
  // Every process the host had when it was signalled, Litestream too: a stop resolves once they
  // are all gone, so that nothing writes in a directory the caller removes next.
  const tree = new Map<number, string>();
  const kill = (signal: NodeJS.Signals) => {
    for (const pid of child.pid === undefined ? [] : descendantsOf(child.pid)) {
      const started = startTime(pid);
      if (started) tree.set(pid, started);
    }
    for (const pid of host().reverse()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Exited meanwhile.
      }
    }
  };
  const waitForLog = (msg: string, waitMs: number, since = 0) =>
    new Promise<LogEntry>((resolve, reject) => {
      const matches = (entry: LogEntry) => entry.msg === msg && (entry.time ?? 0) >= since;
      const seen = logs.find(matches);
      if (seen) return resolve(seen);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
        child.off('exit', onExit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: no "${msg}" within ${waitMs} ms; stderr: ${stderr}`));
      }, waitMs);
      const waiter = (entry: LogEntry) => {
        if (!matches(entry)) return;
        done();
        resolve(entry);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
        done();
        reject(new Error(`${name} exited (${code ?? signal}) before "${msg}": ${stderr}`));
      };
      waiters.add(waiter);
      child.once('exit', onExit);
    });
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (exited()) {
      await outlived(name, tree);
      return child.exitCode;
    }
    const done = once(child, 'exit') as Promise<[number | null]>;
    // A frozen process would never handle SIGTERM.
    kill('SIGCONT');
    // A graceful signal goes to the supervisor alone: it stops the host's processes in order.
    if (signal === 'SIGKILL') kill(signal);
    else child.kill(signal);
    const force = setTimeout(() => kill('SIGKILL'), forceAfterMs);
    const [code] = await done;
    clearTimeout(force);
    await outlived(name, tree);
    return code;
  };
  let url: string;
  try {
    const listening = await waitForLog(LISTENING, timeoutMs);
    url = String(listening.url).replace(/\/graphql$/, '');
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }
  return {
    name,
    child,
    url,
    graphqlUrl: `${url}/graphql`,
    logs,
    waitForLog,
    signal: (signal) => {
      if (!exited()) kill(signal);
    },
    stop,
    rss: () => host().reduce((sum, pid) => sum + residentBytes(pid), 0),
    rssByProcess: () => host().map(residentBytes),
    cpuMs: () => host().reduce((sum, pid) => sum + cpuMilliseconds(pid), 0),
  };
}

/** Spawns a program with its output collected; `exited` resolves with its exit code. */
export function spawnCollecting(file: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = (once(child, 'exit') as Promise<[number | null]>).then(([code]) => code);
  return { child, exited, output: () => ({ stdout, stderr }) };
}

/** Runs the CLI to completion. */
export async function runCli(args: string[], env: Record<string, string> = {}) {
  const run = spawnCollecting(process.execPath, [CLI, ...args], env);
  const code = await run.exited;
  return { code, ...run.output() };
}

/**
 * How long a killed host's processes may outlive it: its Litestream ships its last frames for
 * a grace below the lease's TTL (src/lease/lease.ts, orphanGraceMs), then is killed.
 */
const OUTLIVE_BOUND_MS = 10_000;

/**
 * Waits until every process in `tree` is gone; past the bound, kills those left and throws: a
 * process that outlives its server by that much is a leak to fix, not to clean up after.
 */
async function outlived(name: string, tree: Map<number, string>): Promise<void> {
  const alive = () => [...tree].filter(([pid, started]) => startTime(pid) === started).map(([pid]) => pid);
  const deadline = Date.now() + OUTLIVE_BOUND_MS;
  while (alive().length > 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 20));
  const left = alive();
  tree.clear();
  if (left.length === 0) return;
  const commands = left.map((pid) => `${pid} ${commandLine(pid)}`).join('; ');
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Exited meanwhile.
    }
  }
  throw new Error(`${name}: still running ${OUTLIVE_BOUND_MS} ms after the host exited: ${commands}`);
}

/** A process and everything under it, children before their own (Linux /proc). */
function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

/**
 * When a live process started (clock ticks since boot, /proc/PID/stat field 22): tells it from a
 * later one with the same pid. Empty once it is gone or a zombie, which writes nothing.
 */
function startTime(pid: number): string {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return fields[0] === 'Z' ? '' : (fields[19] ?? '');
  } catch {
    return '';
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
  } catch {
    return '';
  }
}

/** The direct children of a process (Linux /proc); none once it is gone. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function residentBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Clock ticks per second in /proc/PID/stat: 100 on Linux (USER_HZ). */
const TICKS_PER_SECOND = 100;

/**
 * utime + stime of a process: CPU time is what a request costs whatever else the machine runs,
 * so it steadies figures that wall-clock throughput cannot on a shared machine.
 */
export function cpuMilliseconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}
