import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { untilListening } from '../src/http/listening.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How long a server gets to start (on a busy machine; the first start after an edit also builds dist/). */
const START_TIMEOUT_MS = 60_000;

export interface RunningChild {
  name: string;
  child: ChildProcess;
  /** The GraphQL endpoint. */
  url: string;
  /** Resident memory now, in bytes (Linux /proc), of the process and its children (WORKERS > 1). */
  rss(): number;
  /** The same, one figure per process: the one started first, then its children. */
  rssByProcess(): number[];
  /** CPU time the process and its children used so far (user + system), in milliseconds (Linux /proc). */
  cpuMs(): number;
  stop(): Promise<void>;
}

/**
 * Starts a server process and resolves once it logs {"msg":"listening","url"}; on failure the
 * process is killed and its stderr is in the error.
 */
export async function startChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  nodeFlags: string[] = [],
): Promise<RunningChild> {
  const child = spawn(process.execPath, [...nodeFlags, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await untilListening(child, { timeoutMs: START_TIMEOUT_MS }).catch((error: Error) => {
      throw new Error(`${name}: ${error.message}`);
    });
    const tree = () => processTree(child.pid);
    return {
      name,
      child,
      url,
      rss: () => tree().reduce((sum, pid) => sum + residentBytes(pid), 0),
      rssByProcess: () => tree().map(residentBytes),
      cpuMs: () => tree().reduce((sum, pid) => sum + cpuMilliseconds(pid), 0),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * A process and its live children, from /proc: with WORKERS > 1 a server is a supervisor and the
 * processes it forked, and the figures are the host's. A child that exits meanwhile counts 0.
 */
function processTree(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    return [pid, ...children];
  } catch {
    return [pid];
  }
}

/** VmRSS of a process, from /proc; 0 once it is gone. */
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
 * utime + stime of a process, from /proc: CPU time is what a request costs whatever else the
 * machine runs, so it steadies figures that wall-clock throughput cannot on a shared machine.
 */
function cpuMilliseconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the command name (which may hold spaces), from field 3 on.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}
