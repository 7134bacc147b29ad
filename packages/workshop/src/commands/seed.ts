import { createPool, DEFAULT_PAYMENT_ROWS, ensureDatabase, seed } from '@cachelab/db';
import { ok, progress, UserError } from '../output.ts';
import { requireServices } from './doctor.ts';

export async function seedCommand(options: { rows?: string; force?: boolean }): Promise<number> {
  const rows = options.rows === undefined ? DEFAULT_PAYMENT_ROWS : Number(options.rows.replace(/[_,]/g, ''));
  if (!Number.isInteger(rows) || rows < 800 || rows > 50_000_000) {
    throw new UserError(`--rows must be a whole number from 800 to 50,000,000, got "${options.rows}".`, 2);
  }
  await requireServices({ postgres: 'required' }, { seed: false });
  await ensureDatabase();
  const pool = createPool({ max: 1, statementTimeoutMs: 0 });
  const spinner = progress(`Seeding employees and ${rows.toLocaleString('en')} payments…`);
  try {
    const reports = await seed(pool, { rows, force: options.force ?? false });
    spinner.done();
    for (const r of reports) {
      ok(
        r.seeded
          ? `${r.table}: ${r.rows.toLocaleString('en')} rows in ${(r.ms / 1000).toFixed(1)} s`
          : `${r.table}: already holds ${r.rows.toLocaleString('en')} rows (use --force to re-create)`,
      );
    }
    return 0;
  } finally {
    spinner.done();
    await pool.end();
  }
}
