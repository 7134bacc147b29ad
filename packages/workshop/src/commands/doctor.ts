import { createPool, databaseUrl, seedStatus } from '@cachelab/db';
import { fail, ok, UserError, warn } from '../output.ts';
import { serviceStates } from '../services.ts';

/** Throw a UserError naming the fix when PostgreSQL or Redis does not answer. */
export async function requireServices(): Promise<void> {
  const states = await serviceStates();
  const down = states.filter((s) => s.error);
  if (down.length === 0) return;
  throw new UserError(down.map((s) => `Can't reach ${s.name} at ${s.where}. ${s.fix}`).join('\n'));
}

/** The database DATABASE_URL names (its path) and the server it is on, as `name` and `host:port`. */
function databaseAndServer(url: string = databaseUrl()): { name: string; server: string } {
  const u = new URL(url);
  return {
    name: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres',
    server: `${u.hostname || '127.0.0.1'}:${u.port || '5432'}`,
  };
}

/** Is this machine ready? Each check says what is wrong and the exact command that fixes it. */
export async function doctor(): Promise<number> {
  let problems = 0;
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major > 20 || (major === 20 && minor >= 6)) ok(`Node.js ${process.version}`);
  else {
    problems++;
    fail(`Node.js ${process.version} is too old: install Node 20.6 or newer (https://nodejs.org).`);
  }
  const states = await serviceStates();
  for (const s of states) {
    if (s.error) {
      problems++;
      fail(`${s.name} at ${s.where}: ${s.error}. ${s.fix}`);
    } else {
      ok(`${s.name} at ${s.where}${s.origin === 'embedded' ? ' (started by `cachelab services up`)' : ''}`);
    }
  }
  const pg = states.find((s) => s.name === 'PostgreSQL');
  if (pg && !pg.error) {
    const pool = createPool({ max: 1 });
    try {
      const seeded = await seedStatus(pool);
      const payments = seeded.get('borrower_payments');
      if (payments && seeded.has('employees')) {
        ok(
          `data seeded: ${seeded.get('employees')?.toLocaleString('en')} employees, ${payments.toLocaleString('en')} payments`,
        );
      } else {
        problems++;
        fail('The database has no data yet. Seed it with `npx cachelab db seed` (a few seconds).');
      }
    } catch (err) {
      problems++;
      const message = err instanceof Error ? err.message : String(err);
      // 3D000: the server answers, but not for the database DATABASE_URL names (probeDatabase
      // connects to `postgres`). Name the one we looked for: it is not always `cachelab`.
      const { name, server } = databaseAndServer();
      fail(
        (err as { code?: string }).code === '3D000'
          ? `The database \`${name}\` does not exist yet on ${server}. Create and seed it with \`npx cachelab db seed\`.`
          : `Could not read the seed status: ${message}`,
      );
    } finally {
      await pool.end();
    }
  } else {
    warn('Data not checked: PostgreSQL is not reachable.');
  }
  if (problems === 0) ok('Ready. Start with `npm start`.');
  return problems === 0 ? 0 : 1;
}
