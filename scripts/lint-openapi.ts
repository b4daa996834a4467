// `redocly lint` over the OpenAPI document the server serves at /api/openapi.json, built by an
// app over an empty in-memory database, so `npm run check` lints what clients are given.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { openDatabase } from '../src/db/client.ts';
import { applyMigrations } from '../src/db/migrate.ts';
import { OPENAPI_PATH } from '../src/http/routes.ts';
import { createApp } from '../src/http/yoga.ts';

const loaded = loadConfig({ NODE_ENV: 'test', REPLICATION: 'off' });
if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
const db = openDatabase(':memory:');
applyMigrations(db);
const app = createApp({ db, config: loaded.config });
const document = await (await app.fetch(`http://localhost${OPENAPI_PATH}`)).text();
db.$client.close();

const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
const file = join(dir, 'openapi.json');
writeFileSync(file, document);
const lint = spawnSync('redocly', ['lint', '--format', 'stylish', file], {
  stdio: 'inherit',
  // No usage data sent, no update check: the machine may have no internet.
  env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
});
rmSync(dir, { recursive: true });
process.exit(lint.status ?? 1);
