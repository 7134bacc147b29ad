/**
 * Who may keep a copy of each response, and for how long: one `Cache-Control` (and `Vary`)
 * per route, in one place, each with its reason. Once a response leaves the server, these
 * headers are the only say we have: a browser or a CDN holding a copy cannot be told that
 * the data changed. So `max-age` is not "how long is it valid" but **how long you accept
 * that a client shows an old answer after a write**, with nobody able to stop it.
 *
 * The directives used (RFC 9111 §5.2.2):
 * - `max-age=N`: any cache may reuse the copy for N seconds without asking.
 * - `s-maxage=N`: shared caches (a CDN, a proxy) use N instead of max-age. Longer here,
 *   because a CDN is yours to purge and a browser is not.
 * - `stale-while-revalidate=N` (RFC 5861): once stale, a cache may still answer with the
 *   copy for N more seconds while it revalidates in the background: nobody waits for us.
 * - `no-cache`: may be stored, but must be revalidated (a conditional request) before every
 *   use. Not "do not cache": that is `no-store`.
 * - `private`: only the user's own browser may store it; a shared cache must not.
 * - `public`: shared caches may store it even when the request carried `Authorization`.
 * - `no-store`: nobody stores it. Errors (problem+json, lesson 01) are always `no-store`.
 *
 * `Vary` names the request headers that change the answer; a cache keys its copies on them.
 */
export interface HttpCachePolicy {
  /** The Cache-Control header of a 200 and of its 304s. */
  readonly cacheControl: string;
  /** Request headers the response depends on, sent as `Vary` (on the 200 and the 304). */
  readonly vary?: readonly string[];
}

export const POLICIES = {
  /**
   * The payments of a past year do not change. Browsers keep them a minute; CDNs five; and
   * for 30 s after that a cache may answer with the old copy while it revalidates (with the
   * ETag: usually a 304, a few hundred bytes instead of 17.8 MB).
   */
  payments: { cacheControl: 'public, max-age=60, s-maxage=300, stale-while-revalidate=30' },
  /** An aggregate over the same data: the same reasoning, no CDN-specific lifetime. */
  summary: { cacheControl: 'public, max-age=60, stale-while-revalidate=30' },
  /**
   * Employees are written (PATCH) and their status changes many times a day: a client may
   * keep its copy but must ask before each use. The answer is a 304 while nothing changed,
   * and the new row right after a PATCH (the PATCH invalidates the server's cache, so the
   * ETag changes).
   */
  employee: { cacheControl: 'no-cache' },
  /**
   * The signed-in user's own profile: only their browser may keep it (`private`), and the
   * answer depends on who asks (`Vary: Authorization`). A shared cache that ignored this
   * would hand one user's profile to the next.
   */
  me: { cacheControl: 'private, no-cache', vary: ['Authorization'] },
} as const satisfies Record<string, HttpCachePolicy>;
