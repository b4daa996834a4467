import { Command, InvalidArgumentError, Option } from 'commander';
import { signingKey, signToken } from './auth.ts';
import { runOnHost } from './cluster/host.ts';
import { parseTimestamp, type RestoreCommandOptions, restoreCommand } from './commands/restore.ts';
import { type Config, loadConfig } from './config.ts';
import { openDatabase } from './db/client.ts';
import { applyMigrations } from './db/migrate.ts';
import { createLogger } from './logger.ts';
import { RESTORE_CHECKS } from './replication/restore.ts';

/** Only the entry point exits the process: everything below it returns or throws. */
function configOrExit(): Config {
  const result = loadConfig(process.env);
  if (result.ok) return result.config;
  for (const error of result.errors) process.stderr.write(`reviews-api: invalid configuration: ${error}\n`);
  process.exit(2);
}

const program = new Command('reviews-api')
  .description('Reviews API: GraphQL reviews and comments on SQLite, replicated by Litestream')
  .showHelpAfterError();

program
  .command('serve')
  .description('serve the API (configuration from the environment: see README)')
  .action(async () => {
    const config = configOrExit();
    // Loaded by the commands that serve: the GraphQL stack takes ~1.7 s to load, which
    // `restore` (on the recovery path) and the other small commands do not need.
    const logger = createLogger(config);
    await runOnHost(config, logger, async (host) => (await import('./commands/serve.ts')).serve(config, logger, host));
  });

program
  .command('standby')
  .description('stand by for a primary: heartbeat on its /health, promote when it is gone (needs the lease)')
  .requiredOption('--primary <url>', "the primary's base URL, e.g. http://10.0.0.1:4000")
  .action(async (options: { primary: string }) => {
    const config = configOrExit();
    const logger = createLogger(config);
    await runOnHost(config, logger, async (host) =>
      (await import('./commands/standby.ts')).standby(config, logger, options.primary, host),
    );
  });

program
  .command('migrate')
  .description('apply pending database migrations to DATABASE_PATH')
  .action(() => {
    const config = configOrExit();
    const db = openDatabase(config.databasePath);
    applyMigrations(db);
    db.$client.close();
    process.stdout.write(`migrations applied to ${config.databasePath}\n`);
  });

program
  .command('restore')
  .description('restore the database from the replica (REPLICA_URL): the latest, or as it was at a time')
  .option('--output <path>', 'where to write the restored database')
  .option('--timestamp <iso>', 'restore as of this ISO-8601 time, e.g. 2026-11-25T10:30:00Z', parseTimestamp)
  .option('--latest', 'restore the newest copy (the default)')
  .option('--force', 'replace an existing file at --output')
  .option('--list', 'list what can be restored: generations and their time ranges')
  .addOption(
    new Option(
      '--check <kind>',
      'check the restored file with quick_check (default) or integrity_check (full)',
    ).choices(RESTORE_CHECKS),
  )
  .action(async (options: RestoreCommandOptions) => {
    await restoreCommand(configOrExit(), options);
  });

program
  .command('token')
  .description('print a development bearer token signed with JWT_SECRET')
  .argument('<userId>', 'the user id (the token subject)')
  .option('--name <name>', 'display name (default: the user id)')
  .option(
    '--role <role>',
    'a role to grant; only "moderator" exists',
    (role: string, roles: string[]) => {
      if (role !== 'moderator') throw new InvalidArgumentError('the only role is "moderator"');
      return [...roles, role];
    },
    [] as string[],
  )
  .option('--expires-in <duration>', 'lifetime, e.g. 30m, 12h, 7d', '12h')
  .action(async (userId: string, options: { name?: string; role: string[]; expiresIn: string }) => {
    const config = configOrExit();
    const token = await signToken(
      { userId, name: options.name, roles: options.role, expiresIn: options.expiresIn },
      await signingKey(config.jwtSecret),
    );
    process.stdout.write(`${token}\n`);
  });

program
  .command('print-schema')
  .description('print the GraphQL schema (SDL, sorted) as committed in schema.graphql')
  .action(async () => {
    const { printSortedSchema } = await import('./schema/index.ts');
    process.stdout.write(printSortedSchema());
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`reviews-api: ${(error as Error).message}\n`);
  process.exit(1);
}
