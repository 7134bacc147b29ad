import type { RequestHandler, Response } from 'express';

/**
 * W3C Server-Timing: the server tells the client where its time went, in a header that
 * browsers show in dev tools (Network → the request → Timing) and curl shows with `-i`:
 *
 *     Server-Timing: db;dur=182.4;desc="PostgreSQL", total;dur=190.1
 *
 * Handlers record metrics with `time(res, 'db', () => query())` or `record(res, …)`;
 * the middleware writes the header just before the response's headers leave, adding
 * `total` (everything since the request arrived). Durations are measured, in ms.
 */
interface Metric {
  name: string;
  durMs: number;
  desc?: string;
}

const METRICS = Symbol('serverTimingMetrics');
type WithMetrics = Response & { [METRICS]?: Metric[] };

/** Descriptions shown in dev tools for the metric names the workshop uses. */
const DESCRIPTIONS: Record<string, string> = {
  db: 'PostgreSQL',
  l1: 'in-memory cache',
  l2: 'Redis',
  json: 'JSON.stringify',
  total: 'total',
};

export function record(res: Response, name: string, durMs: number, desc = DESCRIPTIONS[name]): void {
  const r = res as WithMetrics;
  r[METRICS] ??= [];
  r[METRICS].push({ name, durMs, ...(desc ? { desc } : {}) });
}

/** Run `fn`, record how long it took under `name` (also when it throws), return its result. */
export async function time<T>(res: Response, name: string, fn: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    record(res, name, performance.now() - started);
  }
}

export function formatServerTiming(metrics: readonly Metric[]): string {
  return metrics.map((m) => `${m.name};dur=${m.durMs.toFixed(1)}${m.desc ? `;desc="${m.desc}"` : ''}`).join(', ');
}

/** Middleware: adds the Server-Timing header (with `total`) to every response. */
export function serverTiming(): RequestHandler {
  return (_req, res, next) => {
    const started = performance.now();
    const writeHead = res.writeHead;
    // The last moment headers can change is writeHead; patch it for this response only.
    res.writeHead = function (this: Response, ...args: Parameters<typeof writeHead>) {
      if (!this.headersSent) {
        const metrics = [...((this as WithMetrics)[METRICS] ?? [])];
        metrics.push({ name: 'total', durMs: performance.now() - started, desc: 'total' });
        this.setHeader('Server-Timing', formatServerTiming(metrics));
      }
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  };
}

/**
 * Send `value` as JSON, timing the serialization as `json` in Server-Timing. On the
 * 100,000-row result stringifying costs a large share of the response (lesson 03 stores
 * the bytes instead, so a cache hit skips it).
 */
export function sendJson(res: Response, value: unknown): void {
  const started = performance.now();
  const body = JSON.stringify(value);
  record(res, 'json', performance.now() - started);
  res.type('application/json').send(body);
}
