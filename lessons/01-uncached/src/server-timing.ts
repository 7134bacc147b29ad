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
 * Hot paths keep a `ServerTiming` of their own instead (see the class).
 */
interface Metric {
  name: string;
  durMs: number;
  desc?: string;
}

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

/**
 * The timings of one request: metrics as they are recorded, and `total` since the object
 * was made. Kept as the header text being built, not as objects: a hit records one or two
 * metrics, and a string is all the header ever needs.
 *
 * A handler that cares about every microsecond of its hit path makes one itself, as a local
 * variable, and sets the header with `applyTo(res)` just before it sends (lessons 02–04, 07).
 * No middleware, nothing stored on `res`: lesson 09 measures what the `serverTiming()`
 * middleware below costs every request, including the hits that need none of it.
 */
export class ServerTiming {
  /** When the object was made (performance.now()): `total` counts from here. */
  readonly started = performance.now();
  #metrics = '';

  record(name: string, durMs: number, desc = DESCRIPTIONS[name]): void {
    const entry = formatMetric(name, durMs, desc);
    this.#metrics = this.#metrics ? `${this.#metrics}, ${entry}` : entry;
  }

  /** Run `fn`, record how long it took under `name` (also when it throws), return its result. */
  async time<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      this.record(name, performance.now() - started);
    }
  }

  /** The header's value: every metric recorded so far, then `total` up to now. */
  header(): string {
    const total = formatMetric('total', performance.now() - this.started, DESCRIPTIONS.total);
    return this.#metrics ? `${this.#metrics}, ${total}` : total;
  }

  /** Set `Server-Timing` on `res` (call it before the response is sent; too late, it does nothing). */
  applyTo(res: Response): void {
    if (!res.headersSent) res.setHeader('Server-Timing', this.header());
  }
}

/** Where the middleware keeps each response's timings: one own property, set once. */
const TIMING = Symbol('serverTiming');
type WithTiming = Response & { [TIMING]?: ServerTiming };

/** The response's timings (from the `serverTiming()` middleware), made on first use if it did not run. */
function timingOf(res: Response): ServerTiming {
  const r = res as WithTiming;
  let timing = r[TIMING];
  if (!timing) {
    timing = new ServerTiming();
    r[TIMING] = timing;
  }
  return timing;
}

/** Record a metric on the response's timings (the `serverTiming()` middleware writes the header). */
export function record(res: Response, name: string, durMs: number, desc = DESCRIPTIONS[name]): void {
  timingOf(res).record(name, durMs, desc);
}

/** Run `fn`, record how long it took under `name` (also when it throws), return its result. */
export function time<T>(res: Response, name: string, fn: () => Promise<T> | T): Promise<T> {
  return timingOf(res).time(name, fn);
}

export function formatServerTiming(metrics: readonly Metric[]): string {
  return metrics.map((m) => formatMetric(m.name, m.durMs, m.desc)).join(', ');
}

/** Prototypes whose writeHead already adds the header (one per Express app). */
const patched = new WeakSet<object>();

/**
 * Patch `writeHead` once on the response prototype the app owns (Express gives every app
 * its own, `app.response`): the last moment headers can change. Responses that did not go
 * through the middleware (no timings) pass untouched.
 */
function patchWriteHead(proto: { writeHead: Response['writeHead'] }): void {
  patched.add(proto);
  const writeHead = proto.writeHead;
  proto.writeHead = function (this: WithTiming, ...args: Parameters<typeof writeHead>) {
    this[TIMING]?.applyTo(this);
    return writeHead.apply(this, args);
  } as typeof writeHead;
}

/**
 * Middleware: adds the Server-Timing header (with `total`, from the moment the request
 * reached it) to every response, whatever answers it: a route, a 404, the error handler.
 * The simplest way to time everything, at a price every request pays (lesson 09 measures it).
 */
export function serverTiming(): RequestHandler {
  return (_req, res, next) => {
    (res as WithTiming)[TIMING] = new ServerTiming();
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
