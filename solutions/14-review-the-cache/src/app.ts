import type { Pool } from '@cachelab/db';
import { errorHandler, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
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

  app.use(serverTiming());

  // Reviewed: the seven problems of the pull request, each fixed where it was.
  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    // 1. Every parameter that changes the answer is in the key: `to` was missing, so another
    //    end date was answered from the entry of the first one.
    const key = `${keyPrefix}payments:${q.investor}:${q.from}:${q.to}:${q.limit}`;

    // 2. The lookup is awaited: the value was read before the promise had set it, so every
    //    request saw `null`. 3. It is timed as what it is, the Redis lookup (l2), not as db.
    const cached = await time(res, 'l2', () => redis.get(key));
    // 4. A miss is `null`: check for it before touching the value (`.length` of null crashed).
    if (cached !== null) {
      res.set('X-Cache', 'HIT');
      // 5. Redis holds the JSON text: send it as it is. res.json(text) encoded it a second
      //    time, so a hit answered one string where the miss answered an array.
      res.type('application/json').send(cached);
      return;
    }

    // 6. db.query takes a connection from the pool and gives it back, whatever happens:
    //    db.connect() without release() kept one per request until the pool ran dry.
    // 7. ORDER BY before LIMIT: without it, LIMIT keeps the rows PostgreSQL reads first.
    //    And db measures the query itself, which is what the header promised.
    const { rows } = await time(res, 'db', () =>
      db.query(
        `SELECT id, borrower_id, loan_id, transaction_date, amount, principal, interest, currency, status
           FROM borrower_payments
          WHERE investor_id = $1 AND transaction_date >= $2 AND transaction_date < $3
          ORDER BY transaction_date, id
          LIMIT $4`,
        [q.investor, q.from, q.to, q.limit],
      ),
    );
    const body = JSON.stringify(rows);
    await redis.set(key, body, 'EX', TTL_SECONDS);
    res.set('X-Cache', 'MISS');
    res.type('application/json').send(body);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
