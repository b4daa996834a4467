import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** The packages a process has loaded after running `script` (a module of its own, by tsx). */
async function loadedAfter(script: string): Promise<string[]> {
  const probe = `${script}
import { createRequire } from 'node:module';
const loaded = Object.keys(createRequire(import.meta.url).cache);
process.stdout.write(JSON.stringify(loaded.filter((path) => /@aws-sdk[/]client-s3|lz4-napi/.test(path))));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe]);
  return JSON.parse(stdout) as string[];
}

describe('the S3 SDK and LZ4 (~30 MB of RSS)', () => {
  it('are not loaded by a node that never reads a replica: serve, a fenced node, the follower', async () => {
    const loaded = await loadedAfter(`
      await import('./src/commands/serve.ts');
      await import('./src/failover/node.ts');
      const { openReplicaStore } = await import('./src/replication/replica-store.ts');
      openReplicaStore({ replicaUrl: 's3://bucket/path', replicaEndpoint: 'http://127.0.0.1:9' }).close();`);
    expect(loaded).toEqual([]);
  });

  it('are loaded once a replica is read', async () => {
    const loaded = await loadedAfter(`
      const { mkdtempSync } = await import('node:fs');
      const { openReplicaStore } = await import('./src/replication/replica-store.ts');
      const store = openReplicaStore({ replicaUrl: 's3://bucket/path', replicaEndpoint: 'http://127.0.0.1:9' });
      await store.segmentsAfter('0000', null).catch(() => undefined);
      store.close();
      const directory = openReplicaStore({ replicaUrl: mkdtempSync('/tmp/replica-') });
      await directory.read('0000', { name: 'x' }).catch(() => undefined);`);
    expect(loaded.some((path) => path.includes('client-s3'))).toBe(true);
  });
});
