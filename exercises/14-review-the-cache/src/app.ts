import type { Pool } from '@cachelab/db';
import { errorHandler, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { parse, paymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';

export interface AppDeps {
  /** PostgreSQL. The app never closes it. */
  db: Pool;
  /** Redis. The app never closes it. */
  redis: Redis;
  /** Put in front of every key: the tests give each test file its own and look for keys under it. */
  keyPrefix: string;
  /** Where unexpected errors (the 500s) are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/** How long a cached page of payments is served before it is read again. */
export const TTL_SECONDS = 300;

/**
 * ─── Pull request #214: "Cache the payments endpoint in Redis" ───────────────────────────
 *
 * > The payments query takes 200 ms+ and the dashboard calls it on every page load. This puts
 * > Redis in front of it: the first request stores the rows for 5 minutes, the next ones are
 * > served from Redis. Server-Timing shows the time we save. Works on my machine!
 *
 * Review it before it ships. The validation (lesson 01's `paymentsQuery`, given) and the
 * error handler are fine; everything between them is yours to question. The tests call
 * `createApp({ db, redis, keyPrefix, log })` and drive `GET /payments` over HTTP.
 */
export function createApp(deps: AppDeps): Express {
  const { db, redis, keyPrefix } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // TODO: review this handler. What does it do on the first request? On the second? With another
  // date range? After a thousand requests? What does its Server-Timing measure?
  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    const key = `${keyPrefix}payments:${q.investor}:${q.from}:${q.limit}`;
    const client = await db.connect();

    const started = performance.now();
    let cached = null as string | null;
    redis.get(key).then((value) => {
      cached = value;
    });
    res.set('Server-Timing', `db;dur=${(performance.now() - started).toFixed(1)}`);

    if (cached!.length > 0) {
      res.set('X-Cache', 'HIT');
      res.json(cached);
      return;
    }

    const { rows } = await client.query(
      `SELECT id, borrower_id, loan_id, transaction_date, amount, principal, interest, currency, status
         FROM borrower_payments
        WHERE investor_id = $1 AND transaction_date >= $2 AND transaction_date < $3
        LIMIT $4`,
      [q.investor, q.from, q.to, q.limit],
    );
    await redis.set(key, JSON.stringify(rows), 'EX', TTL_SECONDS);
    res.set('X-Cache', 'MISS');
    res.json(rows);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
