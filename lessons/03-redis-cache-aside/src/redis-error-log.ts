import type { Redis } from 'ioredis';

/** What a failed Redis operation did to the request, for the log line. Others say nothing more. */
const CONSEQUENCES: Record<string, string> = {
  get: 'Answered from PostgreSQL (X-Cache: BYPASS)',
  set: 'The answer was sent but not stored: the next request misses again',
  delete: 'The old entry stays in Redis until it expires',
  publish: 'Other instances keep their L1 copy until it expires',
};

export interface RedisErrorLogOptions {
  /** At most one line per operation in this many ms; the failures in between are counted. Default 10,000. */
  everyMs?: number;
  /** The clock, in ms. Default Date.now. */
  now?: () => number;
}

/**
 * How an app logs Redis command failures, for a store's or a cache's `onError`: one line each,
 * not a stack trace (an expected condition, and the message says it all), with what the
 * failure did to the request:
 *
 *   ⚠ Redis get failed: Command timed out. Answered from PostgreSQL (X-Cache: BYPASS).
 *
 * - While the client is disconnected it reports the outage itself, once (redis-client.ts):
 *   those failures are not logged again here.
 * - Other failures (the timeouts of a slow Redis, or of a busy process: README, "What the
 *   timeout bounds") are logged at most once per operation every `everyMs`, with the count of
 *   the ones in between, so that a slow Redis under load cannot flood the log.
 * - A message the invalidation bus ignored (operation `message`) is logged as it is.
 *
 * Silence is the one wrong answer: a cache that quietly turns hits into BYPASS looks, from the
 * outside, like a cache that does not work.
 */
export function redisErrorLog(
  redis: Redis,
  log: (message: string) => void,
  options: RedisErrorLogOptions = {},
): (error: Error, operation: string) => void {
  const everyMs = options.everyMs ?? 10_000;
  const now = options.now ?? Date.now;
  const last = new Map<string, { atMs: number; suppressed: number }>();
  return (error, operation) => {
    if (redis.status !== 'ready' && operation !== 'message') return;
    const at = now();
    const seen = last.get(operation);
    if (seen && at - seen.atMs < everyMs) {
      seen.suppressed += 1;
      return;
    }
    const more = seen?.suppressed ? ` (and ${seen.suppressed} more since the last message)` : '';
    last.set(operation, { atMs: at, suppressed: 0 });
    if (operation === 'message') {
      log(`⚠ ${error.message}${more}.`);
      return;
    }
    const consequence = CONSEQUENCES[operation];
    log(`⚠ Redis ${operation} failed: ${error.message}${more}.${consequence ? ` ${consequence}.` : ''}`);
  };
}
