import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A worker thread running the module `name` beside `besideUrl` (a caller's import.meta.url):
 * `name.js` in dist/ (what the server runs), or `name.ts` when the caller itself runs from
 * source (tests, bench, drill). Node 20 cannot load TypeScript, and a worker does not inherit
 * the process's tsx loader (nor take it from execArgv before its entry loads), so from source
 * the worker first registers tsx.
 */
export function startWorkerBeside(besideUrl: string, name: string, workerData: unknown): Worker {
  const extension = extname(fileURLToPath(besideUrl));
  const entry = new URL(`./${name}${extension}`, besideUrl);
  if (extension !== '.ts') return new Worker(entry, { workerData });
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
