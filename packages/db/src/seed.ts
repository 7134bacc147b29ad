import type { Pool, PoolClient } from './pool.ts';
import { migrateWith, withSchemaLock } from './schema.ts';

/** Rows of `borrower_payments` seeded unless told otherwise. */
export const DEFAULT_PAYMENT_ROWS = 1_000_000;
/** Rows of `employees`: a mid-sized company's directory. */
export const EMPLOYEE_ROWS = 10_000;
/** Other investors besides DEMO_INV. */
export const INVESTOR_COUNT = 2_000;
/** The investor of the classic query. One row in 8 is theirs, all dated in 2024. */
export const DEMO_INVESTOR = 'DEMO_INV';
export const DEMO_YEAR = 2024;

export const DEPARTMENTS = [
  'Engineering',
  'Sales',
  'Marketing',
  'Finance',
  'Support',
  'Operations',
  'Legal',
  'People',
] as const;

export interface SeedOptions {
  /** Rows of borrower_payments. Default 1,000,000. Minimum 800 (so DEMO_INV has rows). */
  rows?: number;
  /** Re-create the data even when the same amount is already there. Default false. */
  force?: boolean;
}

export interface SeedReport {
  table: string;
  rows: number;
  /** false when the table already held this seed and was left alone. */
  seeded: boolean;
  /** Measured wall time of the insert, in ms (0 when skipped). */
  ms: number;
}

/**
 * Migrate, then fill the tables with `generate_series`, in the database itself: one
 * statement per table, no rows cross the network, so a million rows take seconds.
 * Idempotent: a table that already holds the requested seed is left alone; a different
 * `rows` truncates and refills. Serialised across processes by an advisory lock.
 * `setseed` makes the data the same on every machine, so lessons can quote results.
 */
export async function seed(pool: Pool, options: SeedOptions = {}): Promise<SeedReport[]> {
  const rows = options.rows ?? DEFAULT_PAYMENT_ROWS;
  if (!Number.isInteger(rows) || rows < 800) {
    throw new TypeError(`seed: rows must be a whole number of at least 800, got ${rows}`);
  }
  return withSchemaLock(pool, async (client) => {
    await migrateWith(client);
    await client.query('SET search_path = public');
    const reports: SeedReport[] = [];
    reports.push(await seedTable(client, 'employees', EMPLOYEE_ROWS, options.force, seedEmployees));
    reports.push(await seedTable(client, 'investors', INVESTOR_COUNT + 1, options.force, seedInvestors));
    reports.push(await seedTable(client, 'borrower_payments', rows, options.force, seedPayments));
    return reports;
  });
}

/** What is seeded now: table → rows, from the seed metadata (empty when never seeded). */
export async function seedStatus(pool: Pool): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ exists: boolean }>(
    "SELECT to_regclass('public.cachelab_seed') IS NOT NULL AS exists",
  );
  if (!rows[0]?.exists) return new Map();
  const result = await pool.query<{ table_name: string; rows: number }>(
    'SELECT table_name, rows FROM public.cachelab_seed',
  );
  return new Map(result.rows.map((r) => [r.table_name, Number(r.rows)]));
}

/**
 * Seed a database that has never been seeded (no payments or no employees), and leave one
 * that has alone, whatever its size: the learner chose it. Resolves true when it seeded.
 * `onSeeding` runs just before, to say why the wait (seeding 1,000,000 rows takes seconds).
 */
export async function seedIfEmpty(
  pool: Pool,
  options: { rows?: number; onSeeding?: (rows: number) => void } = {},
): Promise<boolean> {
  const status = await seedStatus(pool);
  if (status.has('borrower_payments') && status.has('employees')) return false;
  const rows = options.rows ?? DEFAULT_PAYMENT_ROWS;
  options.onSeeding?.(rows);
  await seed(pool, { rows });
  return true;
}

async function seedTable(
  client: PoolClient,
  table: string,
  rows: number,
  force: boolean | undefined,
  fill: (client: PoolClient, rows: number) => Promise<void>,
): Promise<SeedReport> {
  const existing = await client.query<{ rows: string }>('SELECT rows FROM cachelab_seed WHERE table_name = $1', [
    table,
  ]);
  if (!force && Number(existing.rows[0]?.rows) === rows) return { table, rows, seeded: false, ms: 0 };
  const started = performance.now();
  await client.query('BEGIN');
  try {
    await client.query(`TRUNCATE ${table} RESTART IDENTITY`);
    await client.query('SELECT setseed(0.42)');
    await fill(client, rows);
    await client.query(
      `INSERT INTO cachelab_seed (table_name, rows) VALUES ($1, $2)
       ON CONFLICT (table_name) DO UPDATE SET rows = EXCLUDED.rows, seeded_at = now()`,
      [table, rows],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }
  await client.query(`ANALYZE ${table}`);
  return { table, rows, seeded: true, ms: Math.round(performance.now() - started) };
}

async function seedEmployees(client: PoolClient, rows: number): Promise<void> {
  await client.query(
    `INSERT INTO employees (name, email, department, status, status_updated_at, updated_at)
     SELECT f.first || ' ' || l.last,
            lower(f.first || '.' || replace(l.last, ' ', '') || '.' || g) || '@example.com', -- 'van Rossum' → vanrossum
            ($2::text[])[1 + (g % array_length($2::text[], 1))],
            CASE WHEN random() < 0.6 THEN 'in' ELSE 'out' END,
            now() - random() * interval '8 hours',
            now() - random() * interval '365 days'
       FROM generate_series(1, $1::int) AS g
       CROSS JOIN LATERAL (SELECT (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Ken','Margaret','Linus','Radia',
                                         'Tim','Frances','John','Leslie','Niklaus','Sophie','Dennis','Hedy','Guido','Anita'])
                                  [1 + (g * 7 % 20)] AS first) f
       CROSS JOIN LATERAL (SELECT (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Thompson','Hamilton',
                                         'Torvalds','Perlman','Berners-Lee','Allen','Backus','Lamport','Wirth','Wilson',
                                         'Ritchie','Lamarr','van Rossum','Borg','Kay','Codd','Stonebraker','Gray'])
                                  [1 + (g * 13 % 24)] AS last) l`,
    [rows, DEPARTMENTS],
  );
}

async function seedInvestors(client: PoolClient): Promise<void> {
  await client.query(
    `INSERT INTO investors (id, name, country, created_at)
     VALUES ($1, 'Demo Investor Ltd', 'GB', DATE '2023-11-01')`,
    [DEMO_INVESTOR],
  );
  await client.query(
    `INSERT INTO investors (id, name, country, created_at)
     SELECT 'INV' || lpad(g::text, 5, '0'),
            'Investor ' || g,
            (ARRAY['GB','DE','FR','NL','ES','IT','SE','PL'])[1 + (g % 8)],
            DATE '2019-01-01' + (g % 1500)
       FROM generate_series(1, $1::int) AS g`,
    [INVESTOR_COUNT],
  );
}

/**
 * One row in eight belongs to DEMO_INV and falls in 2024, so with the default million rows
 * "DEMO_INV, 2024, LIMIT 100000" returns exactly 100,000 rows (of 125,000). The other rows
 * spread over 2,000 investors with a skew (a few large investors, a long tail) and
 * 2021–2025. Amounts are log-normal-ish, as loan repayments are.
 */
async function seedPayments(client: PoolClient, rows: number): Promise<void> {
  await client.query(
    `INSERT INTO borrower_payments
       (investor_id, borrower_id, loan_id, transaction_date, amount, principal, interest, currency, status)
     SELECT investor_id, borrower_id, loan_id, transaction_date,
            principal + interest, principal, interest, currency, status
       FROM (
         SELECT CASE WHEN g % 8 = 0 THEN $2::text
                     ELSE 'INV' || lpad((1 + floor($3::int * power(random(), 2)))::int::text, 5, '0') END AS investor_id,
                'B' || lpad((1 + floor(random() * 250000))::int::text, 6, '0') AS borrower_id,
                'L' || lpad((1 + floor(random() * 400000))::int::text, 7, '0') AS loan_id,
                CASE WHEN g % 8 = 0 THEN make_date($4::int, 1, 1) + floor(random() * 366)::int
                     ELSE DATE '2021-01-01' + floor(random() * 1826)::int END AS transaction_date,
                round((25 * exp(random() * 4.5))::numeric, 2) AS principal,
                round((random() * 40)::numeric, 2) AS interest,
                CASE WHEN random() < 0.8 THEN 'EUR' WHEN random() < 0.5 THEN 'GBP' ELSE 'USD' END AS currency,
                CASE WHEN random() < 0.95 THEN 'settled' WHEN random() < 0.8 THEN 'late' ELSE 'defaulted' END AS status
           FROM generate_series(1, $1::int) AS g
       ) AS p`,
    [rows, DEMO_INVESTOR, INVESTOR_COUNT, DEMO_YEAR],
  );
}
