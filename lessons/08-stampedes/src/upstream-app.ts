import { badRequest, errorHandler, HttpProblem, notFoundHandler } from '@cachelab/lesson-01-uncached/problem';
import express, { type Express } from 'express';
import { createUpstreamCache, type UpstreamCache, type UpstreamCacheOptions, UpstreamError } from './upstream-cache.ts';

/**
 * Step 3's API: `GET /rates/:currency` answered from a slow upstream API through
 * upstream-cache.ts. `X-Cache: HIT | MISS | STALE`, `Age`, and a `Cache-Control` that passes
 * on the freshness left (a STALE answer says max-age=0). Bad input is a 400 before anything
 * reaches the upstream; an upstream failure with nothing to serve is a problem+json 502, 503
 * (with Retry-After) or 504, never a 500 and never stored.
 *
 * `cache: false` sends every request to the upstream (for the comparison in the measure
 * script): what the API does without this step.
 */
export interface UpstreamAppOptions extends UpstreamCacheOptions {
  cache?: boolean;
  log?: (err: unknown) => void;
}

export function createUpstreamApp(options: UpstreamAppOptions): Express & { locals: { cache: UpstreamCache } } {
  const cached = options.cache !== false;
  // Without the cache: the same code with nothing kept and no flights shared (fresh for 0 s).
  const cache = createUpstreamCache(options);
  const app = express();
  app.disable('x-powered-by');
  app.locals.cache = cache;

  app.get('/rates/:currency', async (req, res) => {
    const currency = req.params.currency;
    if (!/^[A-Z]{3}$/.test(currency))
      throw badRequest('`currency` must be an ISO 4217 code: three capital letters, e.g. EUR.', [
        { parameter: 'currency', message: 'three capital letters, e.g. EUR' },
      ]);
    const path = `/rates/${currency}`;
    try {
      const a = cached ? await cache.get(path) : await passThrough(options, path);
      res
        .status(200)
        .set('X-Cache', cached ? a.status : 'BYPASS')
        .set('Age', String(a.ageSeconds))
        .set('Cache-Control', `public, max-age=${a.freshForSeconds}`)
        .type(a.contentType)
        .send(a.body);
    } catch (error) {
      if (!(error instanceof UpstreamError)) throw error;
      if (error.retryAfterSeconds !== undefined) res.set('Retry-After', String(error.retryAfterSeconds));
      const titles = {
        502: 'The upstream API failed',
        503: 'The upstream API is limiting us',
        504: 'The upstream API is too slow',
      } as const;
      throw new HttpProblem(error.status, `upstream-${error.status}`, titles[error.status], error.message);
    }
  });

  app.use(notFoundHandler);
  app.use(errorHandler(options.log ? { log: options.log } : {}));
  return app as Express & { locals: { cache: UpstreamCache } };
}

/** No cache: one upstream request per request, its failures passed on as the cache would pass them. */
async function passThrough(options: UpstreamCacheOptions, path: string) {
  const once = createUpstreamCache({ ...options, staleIfErrorMs: 0 });
  const a = await once.get(path);
  return a;
}
