import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./s3-server.ts', import.meta.url));

export interface RunningS3 {
  /** The endpoint, for REPLICA_ENDPOINT. */
  address: string;
  stop(): Promise<void>;
}

/** drill/s3-server.ts as a child process, with `bucket` created. */
export async function startS3Process(bucket: string): Promise<RunningS3> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, bucket], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  return { address, stop };
}
