import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { OPENAPI_PATH, REST_DOCS_PATH } from './routes.ts';

// The browsable REST reference at REST_DOCS_PATH: Swagger UI over OPENAPI_PATH.

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

// Served from the package, as GraphiQL is: a CDN would leave a blank page offline.
// A Map, not an object literal: a name from the URL must not find `constructor` or `__proto__`.
const ASSETS = new Map<string, { file: string; type: string }>([
  ['swagger-ui.css', { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' }],
  ['swagger-ui-bundle.js', { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' }],
]);

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Reviews API — REST</title>
  <link rel="stylesheet" href="${REST_DOCS_PATH}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${REST_DOCS_PATH}/swagger-ui-bundle.js"></script>
  <script src="${REST_DOCS_PATH}/init.js"></script>
</body>
</html>
`;

// A file, not an inline script, so a Content-Security-Policy of 'self' still lets it run.
// validatorUrl null: Swagger UI would otherwise send the document to a public validator.
const INIT = `window.ui = SwaggerUIBundle({ url: '${OPENAPI_PATH}', dom_id: '#swagger-ui', validatorUrl: null, tryItOutEnabled: true });
`;

const cache = new Map<string, Promise<string>>();

/** The page at /api/docs and its assets; anything else under it is 404. */
export async function serveRestDocs(pathname: string): Promise<Response> {
  const name = pathname.slice(REST_DOCS_PATH.length).replace(/^\//, '');
  if (name === '') return new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } });
  if (name === 'init.js') return new Response(INIT, { headers: { 'content-type': 'text/javascript; charset=utf-8' } });
  const asset = ASSETS.get(name);
  if (!asset) return new Response('Not found', { status: 404 });
  let body = cache.get(asset.file);
  if (!body) {
    body = readFile(join(swaggerUiDir, asset.file), 'utf8');
    cache.set(asset.file, body);
  }
  return new Response(await body, {
    headers: { 'content-type': asset.type, 'cache-control': 'public, max-age=86400' },
  });
}
