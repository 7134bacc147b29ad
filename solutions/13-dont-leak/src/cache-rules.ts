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
  // /me is the caller's own profile: one entry per user, keyed on the user the token PROVED.
  // Never on a header (X-User-Id, X-Forwarded-User…): a client sets those to whatever it likes,
  // and then it chooses whose entry it reads.
  if (facts.route === 'me') {
    return facts.user === undefined ? null : cacheKey({ prefix, name: 'me', params: { user: facts.user } });
  }
  // A request with credentials may get a different answer (here: the email) and must never be
  // answered from, or stored in, the entry anonymous callers share. Not caching it is the simple
  // safe choice; a per-user key ({ ...params, viewer: user }) would be safe too.
  if (facts.user !== undefined || facts.headers.authorization !== undefined || facts.headers.cookie !== undefined) {
    return null;
  }
  // Anonymous and public: one shared entry per employee.
  return cacheKey({ prefix, name: facts.route, params: facts.params });
}
