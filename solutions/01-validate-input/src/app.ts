import type { Pool } from '@cachelab/db';
import { errorHandler, notFound, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import { investorExists, listPayments } from '@cachelab/lesson-01-uncached/queries';
import { sendJson, serverTiming, time } from '@cachelab/lesson-01-uncached/server-timing';
import express, { type Express } from 'express';
import { parsePaymentsQuery } from './payments-query.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Where unexpected errors (the 500s) are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 01's slow endpoint on its own:
 *
 *   GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000
 *
 * The tests call `createApp({ db, log })` and drive it over HTTP: keep that signature.
 * Errors leave through lesson 01's handlers, which write RFC 9457 problem+json.
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(serverTiming());

  app.get('/payments', async (req, res) => {
    // First, before any query: a bad request costs no database work, and from lesson 02 on it
    // can never become a cache entry. What follows only ever sees normalised values.
    const q = parsePaymentsQuery(req.query);
    // The db time in Server-Timing comes from here: the tests check it on a good request.
    const rows = await time(res, 'db', async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      return listPayments(db, q);
    });
    // The body echoes the query the handler used: the tests read `investor` and `limit` back from it.
    sendJson(res, { ...q, count: rows.length, rows });
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
