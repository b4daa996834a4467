import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from '../logger.ts';
import { litestreamBinary } from './binary.ts';
import { type LitestreamLogLine, parseLitestreamLogLine } from './litestream-log.ts';
import { followLogFile } from './log-file.ts';

/**
 * On Linux, `setpriv --pdeathsig TERM` makes the kernel stop Litestream when the server dies,
 * even by SIGKILL: an orphaned Litestream would go on beside the next server's and both would
 * write generations of one database to the same replica.
 */
const SETPRIV = '/usr/bin/setpriv';
/** GNU coreutils' `timeout`: the bound on how long an orphaned `replicate` ships its tail. */
const TIMEOUT = '/usr/bin/timeout';

/**
 * How a command is run. With `orphanGraceMs` (`replicate`), the kernel's TERM goes to `timeout`,
 * which passes it on to Litestream and kills it `orphanGraceMs` later: SIGTERM makes `replicate`
 * ship its last frames, which takes as long as the replica takes to answer (forever for one
 * that hangs), and past the grace another node may hold the lease and replicate the same
 * database. Litestream dies with `timeout` (`--pdeathsig KILL`): a SIGKILL to the pid the
 * supervisor knows takes it along. `--foreground` keeps both in the server's process group.
 */
function command(args: string[], orphanGraceMs?: number): [string, string[]] {
  const binary = litestreamBinary();
  if (process.platform !== 'linux' || !existsSync(SETPRIV)) return [binary, args];
  const dieWithParent = (signal: string, ...rest: string[]) => ['--pdeathsig', signal, '--', ...rest];
  if (orphanGraceMs === undefined || !existsSync(TIMEOUT)) return [SETPRIV, dieWithParent('TERM', binary, ...args)];
  const bounded = [TIMEOUT, '--foreground', `--kill-after=${orphanGraceMs / 1000}s`, '0'];
  return [SETPRIV, dieWithParent('TERM', ...bounded, SETPRIV, ...dieWithParent('KILL', binary, ...args))];
}

/** Output to pipes (one-off commands), or to a log file's descriptor (`replicate`: see log-file.ts). */
function spawnLitestream(
  args: string[],
  env: Record<string, string>,
  output: 'pipe' | number = 'pipe',
  orphanGraceMs?: number,
): ChildProcess {
  const [file, argv] = command(args, orphanGraceMs);
  return spawn(file, argv, { env: { ...process.env, ...env }, stdio: ['ignore', output, output] });
}

/**
 * The Litestream process itself, under `timeout` if there is one: a stop signals it directly,
 * since `timeout` would kill it after the orphan's grace instead of letting it ship its tail.
 */
function litestreamPid(child: ChildProcess): number | undefined {
  if (child.pid === undefined) return undefined;
  try {
    const [inner] = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').split(' ').filter(Boolean);
    if (inner) return Number(inner);
  } catch {
    // Not Linux, or already gone.
  }
  return child.pid;
}

function signal(pid: number | undefined, name: NodeJS.Signals) {
  if (pid === undefined) return;
  try {
    process.kill(pid, name);
  } catch {
    // Exited meanwhile: its 'exit' is on the way.
  }
}

export interface LitestreamResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What the command printed as its answer (tables), without log lines. */
  output: string;
  log: LitestreamLogLine[];
}

const LOG_LINE = /^time=\S+ level=/;

/** Runs one Litestream command (restore, generations, …) to its end, or kills it at the deadline. */
export async function runLitestream(
  args: string[],
  env: Record<string, string>,
  { timeoutMs }: { timeoutMs: number },
): Promise<LitestreamResult> {
  const child = spawnLitestream(args, env);
  const output: string[] = [];
  const log: LitestreamLogLine[] = [];
  const collect = (stream: NodeJS.ReadableStream) =>
    createInterface({ input: stream }).on('line', (line) => {
      if (LOG_LINE.test(line)) log.push(parseLitestreamLogLine(line));
      else output.push(line);
    });
  collect(child.stdout as NodeJS.ReadableStream);
  collect(child.stderr as NodeJS.ReadableStream);
  const deadline = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done, fail) => {
    child.once('error', fail);
    child.once('close', (exitCode, exitSignal) => done([exitCode, exitSignal]));
  }).finally(() => clearTimeout(deadline));
  return { code, signal, output: output.join('\n'), log };
}

export type LitestreamStatus = 'starting' | 'up' | 'down' | 'stopped';

export interface LitestreamState {
  status: LitestreamStatus;
  /** When the status last changed (epoch ms). */
  since: number;
  pid: number | null;
  /** Why it is down: how the last process ended. */
  reason: string | null;
  /** How many times it was started again after dying. */
  restarts: number;
}

export interface SupervisorOptions {
  args: string[];
  env: Record<string, string>;
  logger: Logger;
  /** Where the process logs; its lines are passed on to `logger`. */
  logPath: string;
  /** True once a started process does its job (for `replicate`: its metrics answer). */
  isServing: () => Promise<boolean>;
  /** How long Litestream may go on shipping its tail once the server is gone (see `command`). */
  orphanGraceMs: number;
  /** First wait before starting a dead Litestream again; doubles up to maxRestartDelayMs. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
  /** How long a started process gets to serve before it counts as failed. */
  startTimeoutMs?: number;
}

const LOG_LEVELS: Record<string, 'debug' | 'warn' | 'error'> = {
  DEBUG: 'debug',
  INFO: 'debug',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Keeps one long-running Litestream command (`replicate`) alive beside the server: reports
 * whether it is up, starts it again with a growing delay when it dies, and stops it so that
 * it finishes its work (SIGTERM: `replicate` ships the last WAL frames, then exits).
 */
export class LitestreamSupervisor {
  #options: Required<SupervisorOptions>;
  #child: ChildProcess | null = null;
  #state: LitestreamState = { status: 'stopped', since: Date.now(), pid: null, reason: null, restarts: 0 };
  #listeners = new Set<(state: LitestreamState) => void>();
  #restartTimer: NodeJS.Timeout | null = null;
  #nextDelayMs: number;
  #stopping = false;
  /** During start(), which reports a failure itself instead of retrying behind its caller's back. */
  #firstStart = false;

  constructor(options: SupervisorOptions) {
    this.#options = { restartDelayMs: 1000, maxRestartDelayMs: 30_000, startTimeoutMs: 30_000, ...options };
    this.#nextDelayMs = this.#options.restartDelayMs;
  }

  get state(): LitestreamState {
    return this.#state;
  }

  /** Calls `listener` on every change of state; returns the function that unsubscribes. */
  onChange(listener: (state: LitestreamState) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts Litestream; resolves once it serves, rejects (and leaves it stopped) if it cannot. */
  async start(): Promise<void> {
    this.#stopping = false;
    this.#firstStart = true;
    const serving = await this.#launch();
    this.#firstStart = false;
    if (!serving) {
      this.#stopping = true;
      const reason = this.#state.reason ?? 'it did not start';
      this.#set({ status: 'stopped' });
      throw new Error(`Litestream did not start: ${reason}`);
    }
  }

  /**
   * Stops Litestream and waits for it to exit: SIGTERM first, so `replicate` ships what it has
   * not shipped yet; SIGKILL if it is still there after `timeoutMs`.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      signal(litestreamPid(child), 'SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(force);
    }
    this.#set({ status: 'stopped', pid: null });
  }

  #set(change: Partial<LitestreamState>) {
    const status = change.status ?? this.#state.status;
    const since = status === this.#state.status ? this.#state.since : Date.now();
    this.#state = { ...this.#state, ...change, since };
    for (const listener of this.#listeners) listener(this.#state);
  }

  /** Spawns the process and waits until it serves; false if it exits or times out first. */
  async #launch(): Promise<boolean> {
    const { args, env, logger, logPath, isServing, startTimeoutMs, orphanGraceMs } = this.#options;
    const log = followLogFile(logPath, (line) => {
      const { level, msg, fields } = parseLitestreamLogLine(line);
      logger[LOG_LEVELS[level] ?? 'info']({ component: 'litestream', ...fields }, msg);
    });
    const child = spawnLitestream(args, env, log.fd, orphanGraceMs);
    this.#child = child;
    this.#set({ status: 'starting', pid: child.pid ?? null });
    let exited = false;
    // A process that could not be spawned may report both 'error' and 'exit': count one end.
    const ended = (reason: string) => {
      if (exited) return;
      exited = true;
      log.close();
      this.#onExit(reason);
    };
    child.once('error', (error) => ended(`could not run: ${error.message}`));
    child.once('exit', (code, signal) => ended(signal ? `killed by ${signal}` : `exited with code ${code}`));
    const deadline = Date.now() + startTimeoutMs;
    while (!exited && !this.#stopping && Date.now() < deadline) {
      if (await isServing().catch(() => false)) {
        if (exited || this.#stopping) break;
        this.#set({ status: 'up', reason: null });
        return true;
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    if (!exited && !this.#stopping) {
      this.#set({ reason: `not serving after ${startTimeoutMs} ms` });
      child.kill('SIGKILL');
    }
    return false;
  }

  #onExit(reason: string) {
    if (this.#stopping) return;
    // A process that served for a while earned a fresh start; one that keeps dying backs off.
    if (this.#state.status === 'up' && Date.now() - this.#state.since > 60_000) {
      this.#nextDelayMs = this.#options.restartDelayMs;
    }
    this.#set({ status: 'down', pid: null, reason });
    if (!this.#firstStart) this.#scheduleRestart(reason);
  }

  #scheduleRestart(reason: string) {
    const { logger, maxRestartDelayMs } = this.#options;
    const delay = this.#nextDelayMs;
    this.#nextDelayMs = Math.min(delay * 2, maxRestartDelayMs);
    logger.error(
      { component: 'litestream', reason, restartInMs: delay },
      'Litestream stopped replicating: writes are refused until it replicates again',
    );
    this.#restartTimer = setTimeout(async () => {
      this.#restartTimer = null;
      if (this.#stopping) return;
      this.#set({ restarts: this.#state.restarts + 1 });
      if (await this.#launch())
        logger.info({ component: 'litestream' }, 'Litestream is replicating again: writes accepted');
    }, delay);
  }
}
