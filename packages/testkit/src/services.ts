import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/**
 * What a package needs of a service:
 * - `required`: its tests need it, and so does its server (a lesson's src/main.ts) to start;
 * - `optional`: its tests need it; its server starts without it and answers from PostgreSQL
 *   (lesson 03's X-Cache: BYPASS) until it is back.
 */
export type ServiceNeed = 'required' | 'optional';

/** The services a package uses; a service it does not use is absent. */
export interface ServiceNeeds {
  postgres?: ServiceNeed;
  redis?: ServiceNeed;
}

/** Packages whose use means Redis: a package that depends on one of these uses Redis. */
const REDIS_CLIENTS = ['ioredis', '@keyv/redis', 'bentocache', 'redis'];

/**
 * What the package in `dir` needs, from the `cachelab.services` field of its package.json:
 *
 * ```json
 * "cachelab": { "services": { "postgres": "required", "redis": "optional" } }
 * ```
 *
 * Every lesson and exercise says it, so that `verify 01` does not ask for a Redis that
 * exercise 01 never uses. Without the field (a package of the workshop's own), it is read from
 * the dependencies: PostgreSQL, and Redis when a Redis client is among them, both required.
 * No package.json at all: both, as before this field existed. A field with another shape is a
 * TypeError naming the file.
 */
export function readServiceNeeds(dir: string): ServiceNeeds {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return { postgres: 'required', redis: 'required' };
  const meta = JSON.parse(readFileSync(file, 'utf8')) as {
    cachelab?: { services?: unknown };
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const field = meta.cachelab?.services;
  if (field === undefined) {
    const deps = { ...meta.dependencies, ...meta.devDependencies };
    return REDIS_CLIENTS.some((name) => name in deps)
      ? { postgres: 'required', redis: 'required' }
      : { postgres: 'required' };
  }
  const needs: ServiceNeeds = {};
  const valid =
    field !== null &&
    typeof field === 'object' &&
    !Array.isArray(field) &&
    Object.entries(field).every(
      ([name, need]) => (name === 'postgres' || name === 'redis') && (need === 'required' || need === 'optional'),
    );
  if (!valid) {
    throw new TypeError(
      `${file}: cachelab.services must map "postgres" and/or "redis" to "required" or "optional", e.g. { "postgres": "required", "redis": "optional" }; got ${JSON.stringify(field)}.`,
    );
  }
  Object.assign(needs, field);
  return needs;
}
