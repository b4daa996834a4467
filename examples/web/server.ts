import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { build } from 'esbuild';

const HERE = import.meta.dirname;

/** The page's two files: index.html, and main.js bundled from src/ (esbuild, for browsers). */
export async function buildPage(): Promise<Map<string, { type: string; body: string }>> {
  const bundled = await build({
    entryPoints: [join(HERE, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
  });
  const script = bundled.outputFiles[0]?.text ?? '';
  return new Map([
    ['/', { type: 'text/html; charset=utf-8', body: await readFile(join(HERE, 'index.html'), 'utf8') }],
    ['/main.js', { type: 'text/javascript; charset=utf-8', body: script }],
  ]);
}

/** The page served on its own origin (a static server, as a front end's would be). */
export async function servePage({ port, host }: { port: number; host: string }) {
  const files = await buildPage();
  const server = createServer((request, response) => {
    const file = files.get(new URL(request.url ?? '/', 'http://page').pathname);
    response.writeHead(file ? 200 : 404, { 'content-type': file?.type ?? 'text/plain' });
    response.end(file?.body ?? 'Not found');
  });
  await new Promise<void>((listening) => server.listen(port, host, listening));
  const address = server.address();
  const origin = `http://${host}:${typeof address === 'object' && address ? address.port : port}`;
  return { origin, close: () => new Promise<void>((closed) => server.close(() => closed())) };
}
