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

/**
 * Per-response state, two own properties set once by the middleware in the same order on
 * every response (one shape, no per-request closure). Metrics are kept as the header text
 * being built, not as objects: a hit records one or two metrics, and a string is all the
 * header ever needs.
 */
const STARTED = Symbol('serverTimingStarted');
const METRICS = Symbol('serverTimingMetrics');
type WithTiming = Response & { [STARTED]?: number; [METRICS]?: string };

/** Descriptions shown in dev tools for the metric names the workshop uses. */
const DESCRIPTIONS: Record<string, string> = {
  db: 'PostgreSQL',
  l1: 'in-memory cache',
  l2: 'Redis',
  json: 'JSON.stringify',
  total: 'total',
};

function formatMetric(name: string, durMs: number, desc: string | undefined): string {
  return `${name};dur=${durMs.toFixed(1)}${desc ? `;desc="${desc}"` : ''}`;
}

export function record(res: Response, name: string, durMs: number, desc = DESCRIPTIONS[name]): void {
  const r = res as WithTiming;
  const entry = formatMetric(name, durMs, desc);
  const sofar = r[METRICS];
  r[METRICS] = sofar ? `${sofar}, ${entry}` : entry;
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
  return metrics.map((m) => formatMetric(m.name, m.durMs, m.desc)).join(', ');
}

/** Prototypes whose writeHead already adds the header (one per Express app). */
const patched = new WeakSet<object>();

/**
 * Patch `writeHead` once on the response prototype the app owns (Express gives every app
 * its own, `app.response`): the last moment headers can change. Responses that did not go
 * through the middleware (no start time) pass untouched.
 */
function patchWriteHead(proto: { writeHead: Response['writeHead'] }): void {
  patched.add(proto);
  const writeHead = proto.writeHead;
  proto.writeHead = function (this: WithTiming, ...args: Parameters<typeof writeHead>) {
    const started = this[STARTED];
    if (started !== undefined && !this.headersSent) {
      const total = formatMetric('total', performance.now() - started, 'total');
      const metrics = this[METRICS];
      this.setHeader('Server-Timing', metrics ? `${metrics}, ${total}` : total);
    }
    return writeHead.apply(this, args);
  } as typeof writeHead;
}

/** Middleware: adds the Server-Timing header (with `total`) to every response. */
export function serverTiming(): RequestHandler {
  return (_req, res, next) => {
    const r = res as WithTiming;
    r[STARTED] = performance.now();
    r[METRICS] = '';
    const proto = Object.getPrototypeOf(res) as { writeHead: Response['writeHead'] };
    if (!patched.has(proto)) patchWriteHead(proto);
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
