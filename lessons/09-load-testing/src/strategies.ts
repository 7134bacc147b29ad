import {
  type LoadReferenceBodies,
  type ReferenceBodies,
  referenceStrategies,
  type Strategy,
  type StrategyContext,
} from '@cachelab/bench';
import { EMPLOYEE_ROWS, type Pool } from '@cachelab/db';
import { createApp as createUncachedApp } from '@cachelab/lesson-01-uncached';
import { getEmployee, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { createApp as createLruApp } from '@cachelab/lesson-02-in-memory-lru';
import { createApp as createRedisApp } from '@cachelab/lesson-03-redis-cache-aside';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { createApp as createTwoLevelApp, type AppLocals as TwoLevelLocals } from '@cachelab/lesson-04-hierarchical';
import { createApp as createHttpApp, type AppLocals as HttpLocals } from '@cachelab/lesson-07-http-caching';
import { createApp as createStampedeApp, type AppLocals as StampedeLocals } from '@cachelab/lesson-08-stampedes';
import type { Redis } from 'ioredis';
import { ladderStrategies } from './cost-ladder.ts';
import { createBentocacheApp, createCacheableApp } from './library-caches.ts';

/**
 * Every way the workshop serves the API, one entry each, so that one load test can run
 * them all the same way, each in its own process (see @cachelab/bench's server-process.ts).
 * The apps are the lessons' own `createApp`, unchanged: what is measured is what you built.
 *
 * TTLs: by default each lesson's own (lesson 02: 60 s; lesson 03: 60 s; lesson 04 and 07:
 * L1 10 s, L2 60 s; lesson 08: L1 10 s, fresh 60 s then 5 min of grace). With the setting
 * `ttl=long` every TTL is an hour or more (LONG_TTL), longer than any run, so that a benchmark
 * of *hits* measures hits and not expiry: on a busy machine a full `npm run bench` has taken
 * 17 minutes, and with TTLs of 5 and 10 minutes 2.7% of its "hits" were misses and L2 hits.
 *
 * Lesson 10's production cache is served by lesson 10's own `src/bench-strategy.ts` (a
 * lesson never imports a later one); `npm run bench` starts it from there.
 */
export const CLASSIC_PAYMENTS = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000';

const long = (context: StrategyContext) => context.settings.ttl === 'long';
/** The TTLs of `ttl=long`: L1 an hour, L2 two (L1 must expire first, lesson 04). */
export const LONG_TTL = { l1Ms: 3_600_000, l2Seconds: 7_200 } as const;

/** Two clients as lesson 03 makes them (fail fast, 250 ms command timeout), ready before serving. */
async function redisClients(context: StrategyContext, count: 1): Promise<[Redis]>;
async function redisClients(context: StrategyContext, count: 2): Promise<[Redis, Redis]>;
async function redisClients(context: StrategyContext, count: number): Promise<Redis[]> {
  const clients = Array.from({ length: count }, () => createRedisClient({ log: (message) => context.log(message) }));
  const ready = await Promise.all(clients.map((c) => whenReady(c, 3_000)));
  if (ready.includes(false)) throw new Error('Redis did not answer within 3 s.');
  return clients;
}

/**
 * The reference bodies (see @cachelab/bench): the exact bytes the lessons send, built with
 * lesson 01's own queries, so "the same bytes" is true by construction.
 */
async function buildReferenceBodies(db: Pool): Promise<ReferenceBodies> {
  const employees = new Map<number, Buffer>();
  const ids = Array.from({ length: EMPLOYEE_ROWS }, (_, i) => i + 1);
  // Ten at a time: the pool has ten connections.
  for (let i = 0; i < ids.length; i += 10) {
    await Promise.all(
      ids.slice(i, i + 10).map(async (id) => {
        const employee = await getEmployee(db, id);
        if (employee) employees.set(id, Buffer.from(JSON.stringify(employee)));
      }),
    );
  }
  const q = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100_000 };
  const rows = await listPayments(db, q);
  return {
    employee: (id) => employees.get(id),
    payments: Buffer.from(JSON.stringify({ ...q, count: rows.length, rows })),
  };
}

/** Built once per pool: a process serves one strategy, but a test may create several. */
const referenceBodies = new WeakMap<Pool, Promise<ReferenceBodies>>();
const loadReferenceBodies: LoadReferenceBodies = (db) => {
  let bodies = referenceBodies.get(db);
  if (!bodies) {
    bodies = buildReferenceBodies(db);
    referenceBodies.set(db, bodies);
  }
  return bodies;
};

export const strategies: Strategy[] = [
  {
    name: 'uncached',
    label: 'uncached (lesson 01)',
    description: 'Every request queries PostgreSQL and serializes the rows.',
    create: ({ db, log }) => ({ listener: createUncachedApp({ db, log }) }),
  },
  {
    name: 'lru',
    label: 'LRU in memory (lesson 02)',
    description: "A hit is a lookup in this process's lru-cache: no network at all.",
    create: (context) => ({
      listener: createLruApp({
        db: context.db,
        log: context.log,
        ...(long(context) ? { cache: { ttlMs: LONG_TTL.l1Ms } } : {}),
      }),
    }),
  },
  {
    name: 'redis',
    label: 'Redis cache-aside (lesson 03)',
    description: 'A hit is one GET to Redis: a network round trip per request.',
    async create(context) {
      const [redis] = await redisClients(context, 1);
      const app = createRedisApp({
        db: context.db,
        redis,
        keyPrefix: context.keyPrefix,
        log: context.log,
        ...(long(context) ? { ttlSeconds: LONG_TTL.l2Seconds } : {}),
      });
      return { listener: app, close: () => redis.disconnect() };
    },
  },
  {
    name: 'two-level',
    label: 'L1 + L2 (lesson 04)',
    description: 'L1 in memory over L2 in Redis, invalidated over pub/sub.',
    async create(context) {
      const [redis, subscriber] = await redisClients(context, 2);
      const app = createTwoLevelApp({
        db: context.db,
        redis,
        subscriber,
        keyPrefix: context.keyPrefix,
        log: context.log,
        ...(long(context) ? { l1: { ttlMs: LONG_TTL.l1Ms }, l2TtlSeconds: LONG_TTL.l2Seconds } : {}),
      });
      const locals = app.locals as TwoLevelLocals;
      await locals.ready;
      return {
        listener: app,
        async close() {
          await locals.close();
          redis.disconnect();
          subscriber.disconnect();
        },
      };
    },
  },
  {
    name: 'http-cache',
    label: 'L1 + L2 + ETag/304 (lesson 07)',
    description: "Lesson 04's cache storing representations with a strong ETag; If-None-Match → 304.",
    async create(context) {
      const [redis, subscriber] = await redisClients(context, 2);
      const app = createHttpApp({
        db: context.db,
        redis,
        subscriber,
        keyPrefix: context.keyPrefix,
        log: context.log,
        ...(long(context) ? { l1: { ttlMs: LONG_TTL.l1Ms }, l2TtlSeconds: LONG_TTL.l2Seconds } : {}),
      });
      const locals = app.locals as HttpLocals;
      await locals.ready;
      return {
        listener: app,
        async close() {
          await locals.close();
          redis.disconnect();
          subscriber.disconnect();
        },
      };
    },
  },
  {
    name: 'stampede',
    label: 'L1 + L2 + stampede defences (lesson 08)',
    description:
      "Lesson 04's two levels with single-flight, a Redis lease, jitter, XFetch and a grace period, as main.ts runs it.",
    async create(context) {
      const [redis, subscriber] = await redisClients(context, 2);
      // As main.ts wires it: protection 'lease' (its default), the lesson's TTLs unless `ttl=long`.
      const app = createStampedeApp({
        db: context.db,
        redis,
        subscriber,
        keyPrefix: context.keyPrefix,
        protection: 'lease',
        log: context.log,
        ...(long(context) ? { freshTtlMs: LONG_TTL.l2Seconds * 1000, l1: { ttlMs: LONG_TTL.l1Ms } } : {}),
      });
      const locals = app.locals as StampedeLocals;
      await locals.ready;
      return {
        listener: app,
        async close() {
          await locals.close();
          redis.disconnect();
          subscriber.disconnect();
        },
      };
    },
  },
  {
    name: 'bentocache',
    label: 'bentocache L1 + L2',
    description: 'The same endpoint on bentocache: memory L1, Redis L2, Redis bus.',
    create: (context) => createBentocacheApp(context, { ttlSeconds: long(context) ? LONG_TTL.l2Seconds : 60 }),
  },
  {
    name: 'cacheable',
    label: 'cacheable L1 + L2',
    description: 'The same endpoint on cacheable: in-memory primary, @keyv/redis secondary.',
    create: (context) => createCacheableApp(context, { ttlSeconds: long(context) ? LONG_TTL.l2Seconds : 60 }),
  },
  ...referenceStrategies(loadReferenceBodies),
  ...ladderStrategies(loadReferenceBodies),
];

/** The strategy named `name`, or a TypeError listing the names there are. */
export function strategyNamed(name: string): Strategy {
  const found = strategies.find((s) => s.name === name);
  if (!found) {
    throw new TypeError(`There is no strategy "${name}". Pick one of: ${strategies.map((s) => s.name).join(', ')}.`);
  }
  return found;
}

/** This module's path, for @cachelab/bench's startServer({ module }). */
export const STRATEGIES_MODULE = new URL(import.meta.url).pathname;
