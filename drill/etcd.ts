import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.ts';

export interface RunningEtcd {
  /** host:port of the client listener, as LEASE_URL=etcd://host:port/key wants it. */
  address: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A single-member etcd (Debian's etcd-server) on loopback ports in a temp directory. Its
 * heartbeat and election timeouts are cut to 50 / 250 ms: etcd raises any lease TTL to
 * 1.5 × the election timeout, and the default (1 s) would make every lease at least 2 s.
 */
export async function startEtcd(binary = 'etcd'): Promise<RunningEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'reviews-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    binary,
    [
      '--name=drill',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=drill=${peer}`,
      '--heartbeat-interval=50',
      '--election-timeout=250',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'etcd to answer',
      async () => {
        if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
        return (await fetch(`${client}/health`)).ok;
      },
      15_000,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { address: `127.0.0.1:${clientPort}`, child, stop };
}
