import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * The S3-compatible server every S3 test and the drill replicate to: fauxqs 2.4.1 in a process
 * of its own (test/support/s3-emulator-server.ts says what it corrects), on this Node when it
 * can run it, otherwise on a Node 24 from the npm registry (node-<os>-<arch>, the package
 * `node@24` installs), pinned here and installed once into .tmp/. Not fauxqs 1.9.2, the last
 * to run on Node 20: it can store a multipart upload with parts missing and answer 200
 * (docs/s3-emulator.md).
 */
const EMULATOR_NODE_VERSION = '24.22.3';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SERVER = fileURLToPath(new URL('./s3-emulator-server.ts', import.meta.url));

/** What the emulator accepts; any pair does, as long as every client sends the same one. */
export const S3_CREDENTIALS = { LITESTREAM_ACCESS_KEY_ID: 'test-key', LITESTREAM_SECRET_ACCESS_KEY: 'test-secret' };

export interface S3Emulator {
  /** The endpoint, for REPLICA_ENDPOINT. */
  readonly address: string;
  /** The bucket it started with. */
  readonly bucket: string;
  stop(): Promise<void>;
}

/** fauxqs 2.x needs node:sqlite (22.5); the server file runs as TypeScript unflagged (22.18). */
function canRunEmulator(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 18);
}

/**
 * A Node that runs fauxqs 2.x. Installed at most once per tree: concurrent test files each
 * install into a temp directory and rename it into place; the first rename wins.
 */
function emulatorNode(): string {
  if (canRunEmulator(process.version)) return process.execPath;
  const name = `node-${process.platform}-${process.arch}`;
  const prefix = join(ROOT, '.tmp', `${name}-${EMULATOR_NODE_VERSION}`);
  const binary = join(prefix, 'node_modules', name, 'bin', 'node');
  if (existsSync(binary)) return binary;
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  const staging = mkdtempSync(`${prefix}.installing-`);
  try {
    execFileSync(
      'npm',
      [
        'install',
        '--prefix',
        staging,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `${name}@${EMULATOR_NODE_VERSION}`,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    renameSync(staging, prefix);
  } catch (error) {
    if (!existsSync(binary)) throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return binary;
}

/** Starts the emulator with `bucket` created; resolves once it listens. */
export async function startS3Emulator(bucket = 'reviews'): Promise<S3Emulator> {
  const child = spawn(emulatorNode(), [SERVER, bucket], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const address = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve((JSON.parse(line) as { address: string }).address));
    child.once('exit', (code) => reject(new Error(`the S3 emulator exited with ${code}`)));
  });
  return { address, bucket, stop };
}
