import { createServer, type RequestListener } from 'node:http';
import type { Pool } from '@cachelab/db';
import express from 'express';
import type { Strategy } from './strategy.ts';

/**
 * The references a cached endpoint is measured against: servers that answer the same
 * requests with the same bytes, from a table built once at start-up, with no cache, no
 * validation, no headers of their own. Nothing can serve these requests faster on this
 * machine with that framework, so a cached endpoint's requests/s divided by theirs says how
 * much of the framework's limit the cache logic leaves.
 *
 * - `node-http`: bare `node:http`, a regular expression and `res.end(bytes)`.
 * - `express`: bare Express 5 (x-powered-by and ETag off, as in every lesson),
 *   `app.get('/employees/:id')` and `res.type('application/json').send(bytes)`.
 */
export interface ReferenceBodies {
  /** The exact bytes the lessons send for `GET /employees/:id`, or undefined for a 404. */
  employee(id: number): Buffer | undefined;
  /** The exact bytes of the classic `GET /payments?…limit=100000`, sent for any /payments request. */
  payments?: Buffer;
}

/** Builds the reference bodies, once per server process (it may query PostgreSQL). */
export type LoadReferenceBodies = (db: Pool) => Promise<ReferenceBodies>;

const EMPLOYEE = /^\/employees\/(\d{1,10})(?:\?|$)/;

export function nodeHttpListener(bodies: ReferenceBodies): RequestListener {
  return (req, res) => {
    const url = req.url ?? '/';
    const match = EMPLOYEE.exec(url);
    const body = match ? bodies.employee(Number(match[1])) : url.startsWith('/payments') ? bodies.payments : undefined;
    if (!body) {
      res.writeHead(404, { 'Content-Length': 0 }).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
    res.end(body);
  };
}

export function expressListener(bodies: ReferenceBodies): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/employees/:id', (req, res) => {
    const body = bodies.employee(Number(req.params.id));
    if (!body) return void res.status(404).end();
    res.type('application/json').send(body);
  });
  app.get('/payments', (_req, res) => {
    if (!bodies.payments) return void res.status(404).end();
    res.type('application/json').send(bodies.payments);
  });
  return app;
}

/** The two reference strategies, serving what `load` builds. */
export function referenceStrategies(load: LoadReferenceBodies): Strategy[] {
  return [
    {
      name: 'node-http',
      label: 'bare node:http (constant bytes)',
      description: 'node:http, a regular expression and res.end(bytes): no framework, no cache, no headers.',
      create: async ({ db }) => ({ listener: nodeHttpListener(await load(db)) }),
    },
    {
      name: 'express',
      label: 'bare Express 5 (constant bytes)',
      description: 'Express 5, one route, res.send(bytes): the framework and nothing else.',
      create: async ({ db }) => ({ listener: expressListener(await load(db)) }),
    },
  ];
}

/** Serve a listener on a free port of 127.0.0.1 in this process (for quick checks and tests). */
export async function listenLocal(listener: RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
