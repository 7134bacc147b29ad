import type { Pool } from '@cachelab/db';
import express, { type Express } from 'express';
import { errorHandler, notFound, notFoundHandler } from './problem.ts';
import { getEmployee, investorExists, investorSummary, listPayments } from './queries.ts';
import { sendJson, serverTiming, time } from './server-timing.ts';
import { employeeId, investorId, parse, paymentsQuery } from './validation.ts';

export interface AppDeps {
  /** PostgreSQL. The app never closes it: whoever created it does. */
  db: Pool;
  /** Where unexpected errors are logged. Default console.error. */
  log?: (err: unknown) => void;
}

/**
 * Lesson 01: the API with no cache at all. Every request goes to PostgreSQL, and every
 * response says how long that took in `Server-Timing`, so the later lessons have a
 * measured baseline to beat. Returns the app without listening (src/main.ts listens).
 *
 * Routes:
 *   GET /employees/:id                                  one employee (fast: primary key)
 *   GET /payments?investor=&from=&to=&limit=            the classic slow query
 *   GET /investors/:id/summary                          a slow aggregate
 */
export function createApp(deps: AppDeps): Express {
  const { db } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // HTTP caching is lesson 07; until then every response is fresh.
  app.use(serverTiming());

  app.get('/', (_req, res) => {
    res.json({
      lesson: '01-uncached',
      routes: [
        'GET /employees/:id',
        'GET /payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=100000',
        'GET /investors/:id/summary',
      ],
    });
  });

  app.get('/employees/:id', async (req, res) => {
    const id = parse(employeeId, req.params.id, 'id');
    const employee = await time(res, 'db', () => getEmployee(db, id));
    if (!employee) throw notFound(`There is no employee with id ${id}.`);
    sendJson(res, employee);
  });

  app.get('/payments', async (req, res) => {
    const q = parse(paymentsQuery, req.query, 'query string');
    const rows = await time(res, 'db', async () => {
      if (!(await investorExists(db, q.investor))) throw notFound(`There is no investor ${q.investor}.`);
      return listPayments(db, q);
    });
    sendJson(res, { ...q, count: rows.length, rows });
  });

  app.get('/investors/:id/summary', async (req, res) => {
    const investor = parse(investorId, req.params.id, 'id');
    const summary = await time(res, 'db', async () => {
      if (!(await investorExists(db, investor))) throw notFound(`There is no investor ${investor}.`);
      return investorSummary(db, investor);
    });
    sendJson(res, summary);
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log ? { log: deps.log } : {}));
  return app;
}
