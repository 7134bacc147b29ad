import type { ReferenceBodies, Strategy } from '@cachelab/bench';
import type { Pool } from '@cachelab/db';
import { record, serverTiming } from '@cachelab/lesson-01-uncached/server-timing';
import { employeeId, parse } from '@cachelab/lesson-01-uncached/validation';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';
import { createMemoryStore } from '@cachelab/lesson-02-in-memory-lru/memory-store';
import express, { type RequestHandler } from 'express';

/**
 * Where the time of a cache hit goes, one piece at a time. Each rung is the previous one
 * plus one piece of lesson 02's hit path, taken from the lessons' own modules, serving the
 * same bytes:
 *
 *   express          bare Express 5: one route, res.send(bytes)          (the reference)
 *   +server-timing   + lesson 01's serverTiming() middleware (patches writeHead, formats the header)
 *   +validation      + parse(employeeId, req.params.id) (zod)
 *   +key             + cacheKey() + lesson 02's memory store get (sends the stored bytes)
 *   +headers         + record('l1') in Server-Timing + res.set('X-Cache', 'HIT')
 *   lru              lesson 02 itself (its route handler and sendMemoized; an L1 hit is synchronous)
 *
 * and one rung that is not on the ladder: `lean`, the same hit with the same headers
 * written the cheap way (no middleware: the handler sets Server-Timing and X-Cache with
 * node's own setHeader; a regular expression instead of zod for a numeric id; the key as
 * a template literal), to measure what a leaner hit path would win.
 *
 * The difference between two rungs' server CPU per request is what that piece costs.
 */
type Rung = 'timing' | 'validation' | 'key' | 'lookup' | 'lean';

function rungApp(bodies: ReferenceBodies, rung: Rung): express.Express {
  const store = createMemoryStore({ maxBytes: 64 * 1024 * 1024, ttlMs: 3_600_000 });
  for (let id = 1; id <= 10_000; id++) {
    const body = bodies.employee(id);
    if (body) store.set(cacheKey({ name: 'employee', params: { id } }), body);
  }
  const handlers: Record<Exclude<Rung, 'lean'>, RequestHandler> = {
    timing: (req, res) => {
      const body = bodies.employee(Number(req.params.id));
      if (!body) return void res.status(404).end();
      res.type('application/json').send(body);
    },
    validation: (req, res) => {
      const id = parse(employeeId, req.params.id, 'id');
      const body = bodies.employee(id);
      if (!body) return void res.status(404).end();
      res.type('application/json').send(body);
    },
    key: (req, res) => {
      const id = parse(employeeId, req.params.id, 'id');
      const hit = store.get(cacheKey({ name: 'employee', params: { id } }));
      if (!hit) return void res.status(404).end();
      res.type('application/json').send(hit.body);
    },
    lookup: (req, res) => {
      const id = parse(employeeId, req.params.id, 'id');
      const started = performance.now();
      const hit = store.get(cacheKey({ name: 'employee', params: { id } }));
      record(res, 'l1', performance.now() - started);
      if (!hit) return void res.status(404).end();
      res.set('X-Cache', 'HIT').type('application/json').send(hit.body);
    },
  };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  if (rung === 'lean') {
    app.get('/employees/:id', (req, res) => {
      const started = performance.now();
      const raw = req.params.id as string;
      // The same rule as lesson 01's zod schema: 1–10 digits, 1 ≤ id ≤ 2^31 - 1.
      const id = /^\d{1,10}$/.test(raw) ? Number(raw) : 0;
      if (id < 1 || id > 2_147_483_647) return void res.status(400).end();
      const lookupStarted = performance.now();
      const hit = store.get(`employee:v1:id=${id}`);
      const l1 = performance.now() - lookupStarted;
      if (!hit) return void res.status(404).end();
      res.setHeader('X-Cache', 'HIT');
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader(
        'Server-Timing',
        `l1;dur=${l1.toFixed(1)};desc="in-memory cache", total;dur=${(performance.now() - started).toFixed(1)};desc="total"`,
      );
      res.send(hit.body);
    });
    return app;
  }
  app.use(serverTiming());
  app.get('/employees/:id', handlers[rung as Exclude<Rung, 'lean'>]);
  return app;
}

/** The rungs as strategies, serving what `load` builds (the reference bodies). */
export function ladderStrategies(load: (db: Pool) => Promise<ReferenceBodies>): Strategy[] {
  const rung = (name: Rung, label: string, description: string): Strategy => ({
    name: `ladder-${name}`,
    label,
    description,
    create: async ({ db }) => ({ listener: rungApp(await load(db), name) }),
  });
  return [
    rung('timing', 'Express + Server-Timing', 'Bare Express plus lesson 01’s serverTiming() middleware.'),
    rung('validation', '… + zod validation', 'Plus parse(employeeId, req.params.id).'),
    rung('key', '… + cacheKey + L1 get', 'Plus cacheKey() and the memory store get.'),
    rung('lookup', '… + X-Cache + record(l1)', 'Plus X-Cache and the l1 metric in Server-Timing.'),
    rung('lean', 'the same hit, written lean', 'The same hit and headers without middleware, zod or cacheKey().'),
  ];
}
