import type { Strategy } from '@cachelab/bench';
import { investorExists, listPayments } from '@cachelab/lesson-01-uncached/queries';
import type { PaymentsQuery } from '@cachelab/lesson-01-uncached/validation';
import express from 'express';
import { createApp } from './src/app.ts';

/**
 * What load.ts serves, one strategy per process (@cachelab/bench's server-process.ts counts
 * each one's queries, event-loop delay and CPU):
 *
 * - `yours`: your `src/app.ts`, as it is now;
 * - `express`: bare Express 5 answering each page of {@link PAGES} with the bytes your app
 *   answers for it, from a table built at start-up: the framework and nothing else, the
 *   fastest this machine can serve those bytes with Express (lesson 09's reference).
 */
const INVESTORS = ['DEMO_INV', 'INV00001', 'INV00002'];
const RANGES = [
  ['2024-01-01', '2025-01-01'],
  ['2024-01-01', '2024-04-01'],
  ['2024-04-01', '2024-07-01'],
  ['2024-07-01', '2024-10-01'],
  ['2024-10-01', '2025-01-01'],
] as const;

/** The pages load.ts asks for: 3 investors × 5 date ranges, 1,000 payments at most each. */
export const PAGES: PaymentsQuery[] = INVESTORS.flatMap((investor) =>
  RANGES.map(([from, to]) => ({ investor, from, to, limit: 1000 })),
);

export const pagePath = (q: PaymentsQuery) =>
  `/payments?investor=${q.investor}&from=${q.from}&to=${q.to}&limit=${q.limit}`;

export const strategies: Strategy[] = [
  {
    name: 'yours',
    label: 'your src/app.ts',
    description: "exercise 15's app as it is in src/app.ts.",
    create: ({ db, log }) => ({ listener: createApp({ db, log }) }),
  },
  {
    name: 'express',
    label: 'bare Express 5 (same bytes)',
    description: 'Express 5, one route, res.send(bytes) of each page from a table built at start-up.',
    create: async ({ db }) => {
      const bodies = new Map<string, Buffer>();
      for (const q of PAGES) {
        if (!(await investorExists(db, q.investor))) continue;
        const rows = await listPayments(db, q);
        bodies.set(pagePath(q), Buffer.from(JSON.stringify({ ...q, count: rows.length, rows })));
      }
      const app = express();
      app.disable('x-powered-by');
      app.set('etag', false);
      app.get('/payments', (req, res) => {
        const body = bodies.get(req.url);
        if (!body) return void res.status(404).end();
        res.type('application/json').send(body);
      });
      return { listener: app };
    },
  },
];
