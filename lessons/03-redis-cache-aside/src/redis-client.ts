import { Redis } from 'ioredis';

/**
 * The Redis client of a cache. A cache is an optimisation, so its client has the opposite
 * priorities of a database client: when Redis is down or slow, a command must fail *at
 * once* (the app then answers from PostgreSQL), never queue up or wait for a reconnection,
 * and the client must come back by itself when Redis does.
 *
 * ioredis' defaults are made for the other case (a command waits for the connection, up to
 * 20 retries, with no time limit), so four options change here, and a fifth is for speed:
 *
 * - `enableOfflineQueue: false`: while disconnected, a command is rejected immediately
 *   ("Stream isn't writeable…") instead of waiting in a queue until Redis returns.
 * - `maxRetriesPerRequest: 1`: a command caught by a dropped connection is retried once, not 20 times.
 * - `commandTimeout`: a command whose reply has not been read completely in time is rejected
 *   ("Command timed out"). This is what protects you from a *slow* Redis, which is worse than a
 *   dead one: a dead one refuses connections at once, a slow one makes every request wait. It
 *   is a timer of this process, running from the moment the command is written: a process too
 *   busy to look (a blocked event loop, no CPU) fails commands Redis has answered, and learns
 *   of a timeout late (step 2, "What the timeout bounds").
 * - `retryStrategy`: reconnect forever, with a backoff that grows and is capped, so the app
 *   heals itself without a restart when Redis is back (within `MAX_RECONNECT_DELAY_MS`).
 * - `enableAutoPipelining`: the commands issued during one turn of the event loop (the GETs
 *   of every request that arrived together) leave as one write, and Redis answers them with
 *   one. Under load that is one system call and one Redis read per batch instead of per
 *   request: the bench measured the Redis hit at 0.84–0.87× bare Express without it and
 *   0.90–0.94× with it (`npm run bench -- --only redis,bentocache --rounds 7`). The price: a
 *   client sends its next batch only once the last one is answered, and a command's
 *   `commandTimeout` starts when its batch leaves, so against a frozen Redis a command can
 *   wait up to about twice `commandTimeout` (the batch before it times out, then its own).
 *
 * Connection errors are reported once per outage (and once when Redis is back), not once
 * per failed reconnection or per request: an outage of a minute is two log lines, not 6,000.
 */

/** Where Redis is when neither `url` nor REDIS_URL says: the same default as testkit and the CLI. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Default `commandTimeoutMs`. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 250;

/** Longest wait between two reconnection attempts: how late, at worst, the app notices Redis is back. */
export const MAX_RECONNECT_DELAY_MS = 1_000;

/** How long opening a TCP connection may take (a host that drops packets never refuses). */
export const CONNECT_TIMEOUT_MS = 1_000;

export interface RedisClientOptions {
  /** `redis://[:password@]host:port[/db]`. Default: `REDIS_URL`, else `redis://127.0.0.1:6379`. */
  url?: string;
  /**
   * How long one command may take, in ms, before it is rejected and the caller falls back to
   * PostgreSQL. Default 250. It covers the whole reply, not just its start, and bounds what a
   * frozen Redis can add to every request: about twice this with auto-pipelining (a command
   * may wait for the batch before it, uncounted), plus however late this process's event loop
   * is. Too low and large values (a 100,000-row body is ~17.8 MB; a GET of it measured 52 ms
   * here, see the README) time out on a busy network or a busy machine. Must be > 0.
   */
  commandTimeoutMs?: number;
  /** Where outages are reported, one line when Redis goes away and one when it is back. Default console.warn. */
  log?: (message: string) => void;
}

/** `REDIS_URL`, else the default: read the environment the same way testkit and the CLI do. */
export function redisUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL?.trim() || DEFAULT_REDIS_URL;
}

/**
 * The prefix of every Redis key (and pub/sub channel) a lesson's server writes:
 * `REDIS_KEY_PREFIX` when set, else the lesson's own (`cachelab:03:`). On a Redis shared by
 * several people, each sets a prefix of their own, so that nobody reads, fills or deletes
 * another's entries; `cachelab demo` runs each lesson under a fresh prefix that way, and
 * afterwards deletes the keys under it and nothing else.
 */
export function keyPrefixFromEnv(lessonPrefix: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_KEY_PREFIX?.trim() || lessonPrefix;
}

/** `host:port` of a Redis URL, for messages (never the password). */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return 'the configured Redis';
  }
}

export function createRedisClient(options: RedisClientOptions = {}): Redis {
  const url = options.url ?? redisUrlFromEnv();
  const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
    throw new TypeError(
      `createRedisClient: commandTimeoutMs must be a positive number of milliseconds, got ${String(options.commandTimeoutMs)}. Leave it out for the default (${DEFAULT_COMMAND_TIMEOUT_MS}).`,
    );
  }
  const log = options.log ?? ((message: string) => console.warn(message));
  const where = describeRedisUrl(url);

  const redis = new Redis(url, {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A lookup that failed is over: the request has been answered from PostgreSQL. Sending
    // it again after a reconnection would only write an old value late.
    autoResendUnfulfilledCommands: false,
    // 100, 200, 400, 800, 1000, 1000, … ms. Never null: null would mean "give up for good".
    retryStrategy: (attempt) => Math.min(100 * 2 ** (attempt - 1), MAX_RECONNECT_DELAY_MS),
  });

  let outage = false;
  // Without an 'error' listener ioredis prints every failed reconnection to stderr.
  redis.on('error', (error: Error) => {
    if (outage) return;
    outage = true;
    log(
      `⚠ Redis at ${where} is unreachable (${error.message}). Answering from PostgreSQL (X-Cache: BYPASS) and reconnecting in the background.`,
    );
  });
  redis.on('ready', () => {
    if (!outage) return;
    outage = false;
    log(`✓ Redis at ${where} is back: caching again.`);
  });
  return redis;
}

/**
 * Resolves true once `redis` is connected and ready, false if that has not happened within
 * `timeoutMs`. With the offline queue off, a command sent before the connection is ready
 * fails, so wait for this before the first request when a cold start matters (tests, main).
 */
export function whenReady(redis: Redis, timeoutMs = 2_000): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      resolve(ready);
    };
    const onReady = () => done(true);
    const timer = setTimeout(() => done(false), timeoutMs);
    redis.on('ready', onReady);
  });
}
