import type { Config } from '../config.ts';
import { openDatabase } from '../db/client.ts';
import { applyMigrations } from '../db/migrate.ts';
import { listen } from '../http/server.ts';
import { createApp } from '../http/yoga.ts';
import type { Logger } from '../logger.ts';

/** Serves the API until SIGTERM or SIGINT, then shuts down in order: HTTP, then the database. */
export async function serve(config: Config, logger: Logger): Promise<void> {
  const db = openDatabase(config.databasePath);
  applyMigrations(db);
  const app = createApp({ db, config, logger });
  const running = await listen(app, config, logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await running.close();
  db.$client.close();
  logger.info('stopped');
}
