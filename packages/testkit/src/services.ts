import { Redis, type RedisOptions } from 'ioredis';

/** Where Redis is: `REDIS_URL`, default `redis://127.0.0.1:6379`. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL?.trim() || DEFAULT_REDIS_URL;
}

export const REDIS_FIX = 'Start it with `docker compose up -d` or `npx cachelab services up`, or set REDIS_URL.';

export function describeRedis(url: string = redisUrl()): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '6379'}`;
  } catch {
    return url;
  }
}

/** A Redis client for tests: fails fast instead of queueing commands while disconnected. */
export function connectRedis(options: RedisOptions & { url?: string } = {}): Redis {
  const { url, ...rest } = options;
  return new Redis(url ?? redisUrl(), {
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    ...rest,
  });
}

/** Resolves to null when Redis answers PING at `url`, else to the reason it does not. */
export async function probeRedis(url: string = redisUrl()): Promise<string | null> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1500,
    retryStrategy: () => null,
  });
  // ioredis reports the socket's error (ECONNREFUSED …) as an event and rejects connect()
  // with a vaguer "Connection is closed"; keep the precise one for the message.
  let socketError: Error | undefined;
  client.on('error', (err: Error) => {
    socketError ??= err;
  });
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (err) {
    const reason = socketError ?? err;
    return (reason instanceof Error ? reason.message : String(reason)).replace(/\.+$/, '');
  } finally {
    client.disconnect();
  }
}
