import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { createPool, describeDatabase, POSTGRES_FIX, type Pool, probeDatabase } from '@cachelab/db';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import type { Redis } from 'ioredis';
import { type AppDeps, type AppLocals, createApp } from './app.ts';
import { expectedHitRatio, staleReadProbability } from './ttl-policy.ts';

/**
 * What hit ratio does each TTL buy, and how stale do reads get? Measured, not guessed: a
 * scripted workload against the real app (two instances each, real PostgreSQL, real Redis).
 *
 *     npx tsx lessons/05-invalidation/src/measure-hit-ratio.ts
 *
 * Time is scaled so that it runs in under a minute: in the status experiment one real
 * second stands for 10 simulated seconds, in the profile experiment for one simulated hour.
 * TTLs are divided by the same factor (Redis TTLs are whole seconds, which is why the
 * factors are what they are), and so are the gaps between requests. A hit ratio depends on
 * reads-per-TTL only, so it comes out as it would at full scale.
 *
 * It writes only to a copy of `employees` in a schema of its own, and to Redis keys under
 * `cachelab:05:measure:<run>:`, and removes both at the end.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = [
  '{status10s,status20s,status50s,oneTtl}.{hitPct,l1Pct,formulaPct,profileLoadsPer1000,staleReads,hits,stalePct,oldestStaleS}',
  '{status10s,status20s,status50s}.{formulaStalePct,formulaStalePctAtTenADay}',
  '{profile1h,profile4h,profile12h}.{hitPct,l1Pct,formulaPct,profileLoadsPer1000}',
  '{status,profile}.{lateMs,changesPerDay}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, Record<string, number>> = {};

interface Experiment {
  title: string;
  /** Simulated seconds per real second. */
  scale: number;
  employees: number;
  /** Reads per simulated second, over all employees (Zipf: the k-th most popular gets 1/k of the first's share). */
  readsPerSecond: number;
  /** Out-of-band status changes per simulated second, over all employees (the badge reader). */
  changesPerSecond: number;
  durationSeconds: number;
  /** Reads before this simulated second only warm the caches and are not counted. */
  warmupSeconds: number;
  /** Read every employee once before the clock starts, as a directory that has run for hours would have. */
  prewarm: boolean;
  /** Which part's hit ratio the experiment is about. */
  part: 'status' | 'profile';
  configs: { key: string; label: string; ttls: AppDeps['ttls']; ttlSeconds: number; worstCaseSeconds: number }[];
}

/** TTLs in *simulated* seconds, turned into the app's real units at `scale`. */
function scaled(scale: number, kinds: Partial<Record<'profile' | 'status', [l2Seconds: number, l1Seconds: number]>>) {
  const ttls: NonNullable<AppDeps['ttls']> = {};
  for (const [kind, [l2, l1]] of Object.entries(kinds) as [keyof typeof kinds, [number, number]][]) {
    const l2TtlSeconds = l2 / scale;
    if (!Number.isInteger(l2TtlSeconds)) throw new TypeError(`${kind}: ${l2} s / ${scale} is not whole seconds`);
    ttls[kind] = { l2TtlSeconds, l1TtlMs: Math.round((l1 * 1000) / scale) };
  }
  return ttls;
}

const STATUS: Experiment = {
  title: 'Status TTL (profile 12 h): 100 employees, 3 reads/s, 1 status change every 4 s',
  scale: 10,
  employees: 100,
  readsPerSecond: 3,
  changesPerSecond: 0.25,
  durationSeconds: 240,
  warmupSeconds: 60,
  prewarm: true,
  part: 'status',
  configs: [
    {
      key: 'status10s',
      label: 'status 10 s + L1 2 s',
      ttls: scaled(10, { status: [10, 2] }),
      ttlSeconds: 10,
      worstCaseSeconds: 12,
    },
    {
      key: 'status20s',
      label: 'status 20 s + L1 4 s',
      ttls: scaled(10, { status: [20, 4] }),
      ttlSeconds: 20,
      worstCaseSeconds: 24,
    },
    {
      key: 'status50s',
      label: 'status 50 s + L1 10 s (the lesson’s)',
      ttls: scaled(10, { status: [50, 10] }),
      ttlSeconds: 50,
      worstCaseSeconds: 60,
    },
    {
      key: 'oneTtl',
      label: 'one TTL for both: 50 s + L1 10 s',
      ttls: scaled(10, { status: [50, 10], profile: [50, 10] }),
      ttlSeconds: 50,
      worstCaseSeconds: 60,
    },
  ],
};

const PROFILE: Experiment = {
  title: 'Profile TTL: 100 employees, 40 reads/hour, names unchanged',
  scale: 3600,
  employees: 100,
  readsPerSecond: 40 / 3600,
  changesPerSecond: 0,
  durationSeconds: 24 * 3600,
  warmupSeconds: 12 * 3600,
  prewarm: false,
  part: 'profile',
  configs: [1, 4, 12].map((hours) => ({
    key: `profile${hours}h`,
    label: `profile ${hours} h + L1 ${hours === 12 ? '5 min' : `${hours * 12} min`}${hours === 12 ? ' (the lesson’s)' : ''}`,
    ttls: {
      ...scaled(3600, { profile: [hours * 3600, hours === 12 ? 300 : hours * 720] }),
      status: { l2TtlSeconds: 1, l1TtlMs: 100 }, // not measured here
    },
    ttlSeconds: hours * 3600,
    worstCaseSeconds: hours * 3600 + (hours === 12 ? 300 : hours * 720),
  })),
};

// --- A deterministic workload ------------------------------------------------------------

function random(seed: number): () => number {
  // mulberry32: small, fast, and the same numbers on every machine.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Event =
  | { at: number; kind: 'read'; index: number; instance: 0 | 1 }
  | { at: number; kind: 'change'; index: number };

function zipfWeights(n: number): number[] {
  const raw = Array.from({ length: n }, (_, k) => 1 / (k + 1));
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((w) => w / sum);
}

function workload(x: Experiment, seed: number): Event[] {
  const rand = random(seed);
  const weights = zipfWeights(x.employees);
  let sum = 0;
  const cumulative = weights.map((w) => {
    sum += w;
    return sum;
  });
  const pick = () => {
    const u = rand();
    const i = cumulative.findIndex((c) => u <= c);
    return i < 0 ? x.employees - 1 : i;
  };
  const events: Event[] = [];
  const poisson = (rate: number, make: (at: number) => Event) => {
    if (rate <= 0) return;
    for (let at = -Math.log(1 - rand()) / rate; at < x.durationSeconds; at += -Math.log(1 - rand()) / rate) {
      events.push(make(at));
    }
  };
  poisson(x.readsPerSecond, (at) => ({ at, kind: 'read', index: pick(), instance: rand() < 0.5 ? 0 : 1 }));
  poisson(x.changesPerSecond, (at) => ({ at, kind: 'change', index: Math.floor(rand() * x.employees) }));
  return events.sort((a, b) => a.at - b.at);
}

// --- The apps ---------------------------------------------------------------------------

interface Running {
  urls: [string, string];
  close(): Promise<void>;
}

async function startInstances(db: Pool, keyPrefix: string, ttls: AppDeps['ttls']): Promise<Running> {
  const started: { server: Server; locals: AppLocals; clients: Redis[] }[] = [];
  for (const name of ['a', 'b']) {
    const redis = createRedisClient({ log: () => {}, commandTimeoutMs: 2_000 });
    const subscriber = createRedisClient({ log: () => {} });
    await whenReady(redis);
    const app = createApp({ db, redis, subscriber, keyPrefix, instanceId: name, ...(ttls ? { ttls } : {}) });
    const locals = app.locals as AppLocals;
    await locals.ready;
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    started.push({ server, locals, clients: [redis, subscriber] });
  }
  const url = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  return {
    urls: [url(started[0]?.server as Server), url(started[1]?.server as Server)],
    async close() {
      for (const s of started) {
        s.server.closeAllConnections();
        await new Promise<void>((resolve) => s.server.close(() => resolve()));
        await s.locals.close();
        for (const c of s.clients) c.disconnect();
      }
    },
  };
}

interface Tally {
  reads: number;
  hits: number;
  l1: number;
  profileLoads: number;
  statusLoads: number;
  staleReads: number;
  /** Simulated seconds between the change a stale read missed and the read. */
  staleAges: number[];
}

async function run(x: Experiment, db: Pool, ids: number[], runId: string) {
  const events = workload(x, 42);
  const instances = await Promise.all(
    x.configs.map((c, i) => startInstances(db, `cachelab:05:measure:${runId}:${x.part}${i}:`, c.ttls)),
  );
  const tallies: Tally[] = x.configs.map(() => ({
    reads: 0,
    hits: 0,
    l1: 0,
    profileLoads: 0,
    statusLoads: 0,
    staleReads: 0,
    staleAges: [],
  }));
  // The truth: each employee's status and when it last changed, in simulated seconds.
  const { rows } = await db.query<{ id: number; status: string }>(
    'SELECT id, status FROM employees WHERE id = ANY($1)',
    [ids],
  );
  const truth = new Map(rows.map((r) => [r.id, { status: r.status, changedAt: Number.NEGATIVE_INFINITY }]));
  if (x.prewarm) {
    for (const running of instances) await Promise.all(ids.map((id) => fetch(`${running.urls[0]}/employees/${id}`)));
  }

  const startedMs = performance.now();
  const simNow = () => ((performance.now() - startedMs) / 1000) * x.scale;
  const late: number[] = [];
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  // Requests are fired on schedule and not awaited one by one (an open workload, as real
  // clients are); a failure is counted, never left unhandled.
  const track = (p: Promise<unknown>) =>
    inFlight.push(
      p.then(
        () => {},
        () => {
          errors += 1;
        },
      ),
    );
  for (const event of events) {
    const dueMs = (event.at / x.scale) * 1000;
    const wait = dueMs - (performance.now() - startedMs);
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    late.push(performance.now() - startedMs - dueMs);
    const id = ids[event.index] as number;
    const t = truth.get(id);
    if (!t) continue;
    if (event.kind === 'change') {
      const status = t.status === 'in' ? 'out' : 'in';
      track(
        db.query('UPDATE employees SET status = $2, status_updated_at = now() WHERE id = $1', [id, status]).then(() => {
          Object.assign(t, { status, changedAt: simNow() });
        }),
      );
      continue;
    }
    const counted = event.at >= x.warmupSeconds;
    for (const [i, running] of instances.entries()) {
      track(
        (async () => {
          const sentAt = simNow();
          const before = t.status;
          const res = await fetch(`${running.urls[event.instance]}/employees/${id}`);
          const body = (await res.json()) as { status: string };
          if (res.status !== 200) throw new Error(`GET /employees/${id} answered ${res.status}`);
          if (!counted) return;
          const tally = tallies[i] as Tally;
          const parts = Object.fromEntries(
            (res.headers.get('x-cache-parts') ?? '').split(', ').map((p) => p.split('=') as [string, string]),
          );
          tally.reads += 1;
          const mine = parts[x.part];
          if (mine === 'L1' || mine === 'L2') tally.hits += 1;
          if (mine === 'L1') tally.l1 += 1;
          if (parts.profile === 'MISS') tally.profileLoads += 1;
          if (parts.status === 'MISS') tally.statusLoads += 1;
          // Stale: neither the value when the request left nor the one when it came back.
          if (body.status !== before && body.status !== t.status) {
            tally.staleReads += 1;
            tally.staleAges.push(sentAt - t.changedAt);
          }
        })(),
      );
    }
  }
  await Promise.all(inFlight);
  const realSeconds = (performance.now() - startedMs) / 1000;
  await Promise.all(instances.map((i) => i.close()));
  late.sort((a, b) => a - b);
  const lateMs = late[Math.floor(late.length * 0.99)] ?? 0;
  return { tallies, realSeconds, lateMs, errors };
}

// --- Report -------------------------------------------------------------------------------

const pct = (n: number, of: number) => {
  if (of === 0) return '—';
  const p = (100 * n) / of;
  return `${p > 0 && p < 1 ? p.toFixed(2) : p.toFixed(1)} %`;
};

function predicted(x: Experiment, ttlSeconds: number): number {
  const weights = zipfWeights(x.employees);
  return weights.reduce((sum, w) => sum + w * expectedHitRatio(w * x.readsPerSecond, ttlSeconds), 0);
}

function report(x: Experiment, result: Awaited<ReturnType<typeof run>>) {
  figures[x.part] = { lateMs: result.lateMs, changesPerDay: (x.changesPerSecond / x.employees) * 86_400 };
  say(`\n${x.title}`);
  say(
    `(simulated ${x.durationSeconds / (x.scale === 3600 ? 3600 : 1)} ${x.scale === 3600 ? 'h' : 's'}, first ${x.warmupSeconds / (x.scale === 3600 ? 3600 : 1)} ${x.scale === 3600 ? 'h' : 's'} not counted; ran ${result.realSeconds.toFixed(1)} s; 99 % of requests left less than ${result.lateMs.toFixed(0)} ms late; ${result.errors} failed)\n`,
  );
  const header =
    x.part === 'status'
      ? '| TTL | worst-case age | status hit ratio (L1) | rT/(1+rT) | profile loads / 1,000 reads | stale reads / hits | oldest stale read |'
      : '| TTL | worst-case age | profile hit ratio (L1) | rT/(1+rT) | profile loads / 1,000 reads |';
  say(header);
  say(header.replace(/[^|]+/g, ' --- '));
  for (const [i, c] of x.configs.entries()) {
    const t = result.tallies[i] as Tally;
    const age = x.scale === 3600 ? `${(c.worstCaseSeconds / 3600).toFixed(2)} h` : `${c.worstCaseSeconds.toFixed(0)} s`;
    const cells = [
      c.label,
      age,
      `${pct(t.hits, t.reads)} (${pct(t.l1, t.reads)})`,
      pct(predicted(x, c.ttlSeconds), 1),
      ((1000 * t.profileLoads) / Math.max(1, t.reads)).toFixed(1),
    ];
    const percent = (n: number, of: number) => (of === 0 ? 0 : (100 * n) / of);
    figures[c.key] = {
      hitPct: percent(t.hits, t.reads),
      l1Pct: percent(t.l1, t.reads),
      formulaPct: 100 * predicted(x, c.ttlSeconds),
      profileLoadsPer1000: (1000 * t.profileLoads) / Math.max(1, t.reads),
    };
    if (x.part === 'status') {
      Object.assign(figures[c.key] as Record<string, number>, {
        staleReads: t.staleReads,
        hits: t.hits,
        stalePct: percent(t.staleReads, t.hits),
        oldestStaleS: t.staleAges.length ? Math.max(...t.staleAges) : 0,
      });
      cells.push(
        `${t.staleReads} / ${t.hits} (${pct(t.staleReads, t.hits)})`,
        t.staleAges.length ? `${Math.max(...t.staleAges).toFixed(1)} s` : '—',
      );
    }
    say(`| ${cells.join(' | ')} |`);
  }
  if (x.part === 'status') {
    const perEmployee = x.changesPerSecond / x.employees;
    say(
      `\nChanges here: ${(perEmployee * 86_400).toFixed(0)} per employee per day (about 20 × the real ~10, so that a short run sees some).`,
    );
    for (const c of x.configs.slice(0, 3)) {
      Object.assign(figures[c.key] as Record<string, number>, {
        formulaStalePct: 100 * staleReadProbability(perEmployee, c.ttlSeconds),
        formulaStalePctAtTenADay: 100 * staleReadProbability(10 / 86_400, c.ttlSeconds),
      });
      say(
        `  ${c.label}: P(a hit is stale) = 1 − (1 − e^(−λT))/(λT) = ${pct(staleReadProbability(perEmployee, c.ttlSeconds), 1)} at this rate, ` +
          `${pct(staleReadProbability(10 / 86_400, c.ttlSeconds), 1)} at 10 a day`,
      );
    }
  }
}

// --- Main -----------------------------------------------------------------------------------

const problem = await probeDatabase();
if (problem) {
  console.error(`✗ Can't reach PostgreSQL at ${describeDatabase()} (${problem}). ${POSTGRES_FIX}`);
  process.exit(1);
}
const runId = randomBytes(4).toString('hex');
const schema = `measure_${runId}`;
const admin = createPool({ max: 1 });
await admin.query(`CREATE SCHEMA ${schema}`);
await admin.query(`CREATE TABLE ${schema}.employees (LIKE public.employees INCLUDING ALL)`);
await admin.query(`INSERT INTO ${schema}.employees SELECT * FROM public.employees`);
const db = createPool({ searchPath: [schema, 'public'], max: 20, connectionTimeoutMs: 10_000 });
try {
  const { rows } = await db.query<{ id: number }>('SELECT id FROM employees ORDER BY id LIMIT 100');
  const ids = rows.map((r) => r.id);
  // One experiment after the other: they share this process's event loop with the apps, and
  // a request that leaves late is served at the wrong simulated time.
  say(
    `Measuring (about 50 s). Load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  );
  const status = await run(STATUS, db, ids, runId);
  const profile = await run(PROFILE, db, ids, runId);
  report(STATUS, status);
  report(PROFILE, profile);
  say(
    `\nLoad average after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')} (${cpus().length} CPUs)`,
  );
} finally {
  await db.end();
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.end();
  const redis = createRedisClient({ log: () => {} });
  if (await whenReady(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `cachelab:05:measure:${runId}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  }
  redis.disconnect();
}
if (json) console.log(JSON.stringify(figures));
