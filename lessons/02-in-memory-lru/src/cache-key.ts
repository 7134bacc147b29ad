import { createHash } from 'node:crypto';

/**
 * The one helper that builds every cache key of the workshop. Nobody concatenates keys by
 * hand elsewhere: a key built by hand sooner or later forgets a parameter, and a cache keyed
 * on too little serves one request's answer to another (`limit=10` gets the 100,000 rows).
 *
 *     cacheKey({ prefix: 'cl:', name: 'payments', params: { to: '2025-01-01', investor: 'DEMO_INV', from: '2024-01-01', limit: 100000 } })
 *     // 'cl:payments:v1:from=2024-01-01&investor=DEMO_INV&limit=100000&to=2025-01-01'
 *
 * The shape is `${prefix}${name}:v${version}` and, when there are parameters,
 * `:` + the parameters sorted by name, each `name=value` URI-encoded, joined with `&`:
 * - sorted, so that `?from=…&to=…` and `?to=…&from=…` are one entry, not two;
 * - URI-encoded, so that a value containing `&`, `=` or `:` cannot forge another key;
 * - `undefined` values are skipped, so an optional parameter left out and one never
 *   defined give the same key (pass the *normalised* parameters, with defaults filled in:
 *   then `?investor=X` and `?investor=X&limit=1000` are one entry too);
 * - the version (default 1) is the escape hatch when the cached *shape* changes: bump it
 *   and every old entry is simply never read again.
 *
 * When the parameter part is longer than {@link MAX_PARAMS_LENGTH} characters it is replaced
 * by `#` + its SHA-256 (base64url, 43 characters). A key is stored once per entry, in memory
 * and in Redis, and counted in the entry's size: a bounded key keeps that cost predictable
 * whatever a client puts in a query string. The prefix, name and version stay readable, so
 * you can still find (SCAN `cl:payments:v1:*`) and delete a family of keys; only the
 * parameters of very long keys become opaque. Two different parameter sets colliding on
 * SHA-256 is not a risk worth a thought.
 */
export interface CacheKeyParts {
  /** Namespace for the whole app or test, e.g. `cl:`; used as is (include your separator). Default ''. */
  prefix?: string;
  /** What is cached, e.g. `payments`. Required, not empty. */
  name: string;
  /** Version of the cached value's shape. Default 1, written `v1`. */
  version?: number | string;
  /** Every parameter the answer depends on. `undefined` values are skipped. */
  params?: Record<string, string | number | boolean | undefined>;
}

/** Longest parameter part kept readable; longer ones are hashed. */
export const MAX_PARAMS_LENGTH = 200;

export function cacheKey(parts: CacheKeyParts): string {
  const { prefix = '', name, version = 1, params } = parts;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('cacheKey: `name` is required: say what is cached, e.g. { name: "payments" }.');
  }
  const base = `${prefix}${name}:v${version}`;
  const entries = Object.entries(params ?? {})
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    // Code-unit order, not localeCompare: the key must not depend on the machine's locale.
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return base;
  const query = entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
  if (query.length <= MAX_PARAMS_LENGTH) return `${base}:${query}`;
  return `${base}:#${createHash('sha256').update(query).digest('base64url')}`;
}
