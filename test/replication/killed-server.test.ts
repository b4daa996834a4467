import { readFileSync } from 'node:fs';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Served, startServe } from '../support/process.ts';
import {
  createReview,
  PROCESS_TEST_TIMEOUT_MS,
  ready,
  replicated,
  type Sandbox,
  s3ForThisFile,
  sandbox,
  tokenFor,
} from './support.ts';

/**
 * A TCP relay to the S3 emulator that can stop answering, as a replica does when its network
 * hangs: what Litestream sends is then never answered, on open connections and on new ones.
 */
async function hangingRelay(target: string) {
  const sockets = new Set<Socket>();
  let hung = false;
  const hold = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const relay: Server = createServer((client) => {
    hold(client);
    if (hung) return;
    const upstream = connect(Number(new URL(target).port), '127.0.0.1');
    hold(upstream);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((done) => relay.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    hang: () => {
      hung = true;
      for (const socket of sockets) {
        socket.unpipe();
        socket.pause();
      }
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      relay.close();
    },
  };
}

/** Whether a process runs (a zombie, already ended, waits only to be reaped). */
function running(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
}

const s3 = s3ForThisFile();

describe.each(['1', '2'])('a server killed with WORKERS=%s', { timeout: PROCESS_TEST_TIMEOUT_MS }, (workers) => {
  let box: Sandbox | undefined;
  let served: Served | undefined;
  let relay: Awaited<ReturnType<typeof hangingRelay>> | undefined;
  afterEach(async () => {
    await served?.stop('SIGKILL');
    relay?.close();
    box?.cleanup();
  });

  it('leaves no Litestream behind, even one whose replica hangs as it ships its last frames', async () => {
    relay = await hangingRelay(s3.address);
    box = sandbox('s3', s3);
    served = await startServe({
      ...box.env,
      REPLICA_ENDPOINT: relay.url,
      REPLICA_SYNC_INTERVAL: '250ms',
      WORKERS: workers,
    });
    const token = await tokenFor('ivan');
    await createReview(served.url, token, 'shipped');
    await replicated(served.url);
    const litestream = (await ready(served.url)).replication.litestream.pid as number;
    expect(running(litestream)).toBe(true);

    // A write Litestream has to ship on its way out, to a replica that no longer answers.
    relay.hang();
    await createReview(served.url, token, 'the tail');
    await served.stop('SIGKILL');
    expect(running(litestream)).toBe(false);
  });
});
