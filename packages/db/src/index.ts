export { DEFAULT_DATABASE_URL, databaseUrl, describeDatabase, POSTGRES_FIX } from './config.ts';
export {
  asDatabaseError,
  DatabaseUnavailableError,
  isConnectionError,
  isQueryTimeout,
  plainConnectionError,
} from './errors.ts';
export {
  createPool,
  DEFAULT_QUERY_TIMEOUT_MARGIN_MS,
  DEFAULT_STATEMENT_TIMEOUT_MS,
  ensureDatabase,
  type Pool,
  type PoolClient,
  type PoolOptions,
  probeDatabase,
} from './pool.ts';
export { MIGRATIONS, migrate, TABLES, withSchemaLock } from './schema.ts';
export {
  DEFAULT_PAYMENT_ROWS,
  DEMO_INVESTOR,
  DEMO_YEAR,
  DEPARTMENTS,
  EMPLOYEE_ROWS,
  INVESTOR_COUNT,
  type SeedOptions,
  type SeedReport,
  seed,
  seedIfEmpty,
  seedStatus,
} from './seed.ts';
