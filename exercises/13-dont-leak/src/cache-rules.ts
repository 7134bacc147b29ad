import type { IncomingHttpHeaders } from 'node:http';
import { cacheKey } from '@cachelab/lesson-02-in-memory-lru/cache-key';

/** What app.ts knows about a request when it asks for its cache key. */
export interface RequestFacts {
  /** 'employee': GET /employees/:id (anyone; signed-in callers also see the email). 'me': GET /me. */
  route: 'employee' | 'me';
  /** The validated route parameters, e.g. { id: 7 }. */
  params: Record<string, string | number>;
  /** The employee the bearer token PROVED (app.ts checked its signature); undefined when anonymous. */
  user: number | undefined;
  /** The request's headers exactly as the client sent them: anything in here, a client can set. */
  headers: IncomingHttpHeaders;
}

/**
 * The cache key of a request, or null when its answer must not be cached at all.
 * Build keys with cacheKey() (lesson 02), `prefix` first.
 */
export function keyFor(facts: RequestFacts, prefix: string): string | null {
  // TODO: a per-user answer must live under a key of that user (the verified one), and a
  // request that carries credentials must never read or fill a shared entry.
  return cacheKey({ prefix, name: facts.route, params: facts.params });
}
