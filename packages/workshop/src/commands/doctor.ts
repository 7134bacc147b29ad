import { createPool, DEFAULT_PAYMENT_ROWS, ensureDatabase, seedIfEmpty } from '@cachelab/db';
import { fail, ok, progress, UserError, warn } from '../output.ts';
import {
  dataState,
  describeDown,
  describeWorkWithout,
  type ServiceName,
  type ServiceNeeds,
  type ServiceState,
  serviceState,
  serviceStates,
} from '../services.ts';

/** What a command needs when it does not say: both services (grade, check, bench). */
const BOTH: ServiceNeeds = { postgres: 'required', redis: 'required' };

export interface RequireOptions {
  /**
   * Who needs them, for the messages: "lesson 03", "exercise 01". Without it the messages
   * say only what is down.
   */
  who?: string;
  /**
   * What an `optional` service that is down means for this command, e.g. "its answers will
   * be X-Cache: BYPASS until Redis is back": then it is a warning, not a refusal. Without it,
   * an optional service is required like any other (verify, demo: their point is the cache).
   */
  optionalMeans?: string;
  /**
   * Create and seed the workshop database when it is missing or empty, saying so (default
   * true when PostgreSQL is needed): what the README promises the first time. `db seed`
   * turns it off, since it seeds with its own options.
   */
  seed?: boolean;
  /** Where the lines about seeding go. Default stdout; `demo --json` sends them to stderr. */
  say?: (line: string) => void;
}

/**
 * Before a command that uses the services: make sure the ones `needs` lists answer (those it
 * does not list are not even probed: `verify 01` does not wait for a Redis it never uses),
 * then that the database is there and seeded.
 *  1. a required service that does not answer: a UserError naming it, why, and the fix;
 *  2. an optional one, with `optionalMeans`: a warning saying what that means;
 *  3. PostgreSQL needed and answering: the database created and seeded if it is not yet.
 */
export async function requireServices(needs: ServiceNeeds = BOTH, options: RequireOptions = {}): Promise<void> {
  const wanted: [ServiceName, NonNullable<ServiceNeeds['postgres']>][] = [];
  if (needs.postgres) wanted.push(['PostgreSQL', needs.postgres]);
  if (needs.redis) wanted.push(['Redis', needs.redis]);
  const states = await Promise.all(wanted.map(async ([name, need]) => ({ need, state: await serviceState(name) })));
  const refused: ServiceState[] = [];
  for (const { need, state } of states) {
    if (!state.error) continue;
    if (need === 'optional' && options.optionalMeans) {
      warn(
        `${describeDown(state)}. ${capital(options.who ?? 'the server')} starts anyway: ${options.optionalMeans}. ${state.fix}`,
      );
    } else refused.push(state);
  }
  if (refused.length > 0) {
    throw new UserError(
      refused
        .map((s) => `Can't reach ${describeDown(s)}${options.who ? ` (${options.who} uses it)` : ''}. ${s.fix}`)
        .join('\n'),
    );
  }
  if (needs.postgres && options.seed !== false) await ensureData(options.say);
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * The workshop database, created and seeded when it is not yet (a few seconds for 1,000,000
 * payments), saying so. Leaves a seeded database alone, whatever its size. The payments'
 * rows: `CACHELAB_SEED_ROWS` (as the tests' global setup reads it), default 1,000,000.
 */
export async function ensureData(sayTo?: (line: string) => void): Promise<void> {
  const say = sayTo ?? ((line: string) => console.log(line));
  const data = await dataState({ timeoutMs: 3_000 });
  if (data.state === 'seeded' || data.state === 'unknown') return; // unknown: the command's own error says why
  const rows = Number(process.env.CACHELAB_SEED_ROWS) || DEFAULT_PAYMENT_ROWS;
  say(
    `› The database ${data.database} on ${data.server} ${data.state === 'missing' ? 'does not exist yet' : 'has no data yet'}: creating and seeding it (${rows.toLocaleString('en')} payments, a few seconds; \`npx cachelab db seed\` does it on its own).`,
  );
  const started = performance.now();
  // The elapsed seconds on a terminal; a program reading --json gets the two lines on stderr only.
  const spinner = sayTo || !process.stdout.isTTY ? { done() {} } : progress('Seeding…');
  try {
    await ensureDatabase();
    const pool = createPool({ max: 1, statementTimeoutMs: 0 });
    try {
      await seedIfEmpty(pool, { rows });
    } finally {
      await pool.end();
    }
  } finally {
    spinner.done();
  }
  say(`✓ Seeded ${data.database} in ${((performance.now() - started) / 1000).toFixed(1)} s.`);
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
  const [pg, redis] = await serviceStates();
  // The PostgreSQL probe connects to the server's `postgres` database: it says the server
  // answers, not that the workshop's database is there (the next line says that).
  const server = pg.where.replace(/\/.*$/, '');
  if (pg.error) {
    problems++;
    fail(`${describeDown(pg)}. ${pg.fix}`);
  } else {
    ok(
      `PostgreSQL server answers at ${server}${pg.origin === 'embedded' ? ' (started by `cachelab services up`)' : ''}`,
    );
  }
  if (redis.error) {
    problems++;
    const still = describeWorkWithout('redis');
    fail(`${describeDown(redis)}. ${redis.fix}${still ? ` (Without it, ${still} still work.)` : ''}`);
  } else {
    ok(`Redis answers at ${redis.where}${redis.origin === 'embedded' ? ' (started by `cachelab services up`)' : ''}`);
  }
  if (pg.error) {
    warn('Data not checked: PostgreSQL is not reachable.');
  } else {
    const data = await dataState({ timeoutMs: 3_000 });
    if (data.state === 'seeded') {
      ok(
        `Database ${data.database} seeded: ${data.rows.get('employees')?.toLocaleString('en')} employees, ${data.rows.get('borrower_payments')?.toLocaleString('en')} payments`,
      );
    } else {
      problems++;
      // Name the database we looked for: it is not always `cachelab`.
      fail(
        data.state === 'missing'
          ? `The database \`${data.database}\` does not exist yet on ${data.server}. Create and seed it with \`npx cachelab db seed\` (a few seconds; the first demo, run or verify does it too).`
          : data.state === 'empty'
            ? `The database \`${data.database}\` has no data yet. Seed it with \`npx cachelab db seed\` (a few seconds; the first demo, run or verify does it too).`
            : `Could not read the seed status of \`${data.database}\`: ${data.error}.`,
      );
    }
  }
  if (problems === 0) ok('Ready. Start with `npm start`.');
  return problems === 0 ? 0 : 1;
}
