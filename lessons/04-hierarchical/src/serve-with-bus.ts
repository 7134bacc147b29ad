import type { Pool } from '@cachelab/db';
import { portFromEnv, serveLesson } from '@cachelab/lesson-01-uncached/serve';
import {
  createRedisClient,
  describeRedisUrl,
  redisUrlFromEnv,
  whenReady,
} from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import type { Express } from 'express';
import type { Redis } from 'ioredis';

/** What an app with an invalidation bus exposes on `app.locals`. */
export interface BusLocals {
  /** Resolves once the bus is subscribed. */
  ready: Promise<unknown>;
  /** Stop listening on the bus. */
  close(): Promise<void>;
}

export interface ServeWithBusOptions {
  /** Lesson id for the banner, e.g. '04-hierarchical'. */
  lesson: string;
  /** The request the banner suggests trying. */
  example?: string;
  /**
   * Build the app. `instanceId` is `INSTANCE` when set, else the port plus a random suffix:
   * ids must be unique, since an instance ignores bus messages carrying its own id, and
   * replicas listening on the same port in different containers must still hear each other.
   */
  createApp(services: { db: Pool; redis: Redis; subscriber: Redis; instanceId: string }): Express;
  /** One line saying what this instance does, printed once it is ready. */
  banner?(app: Express): string;
}

/**
 * How lessons 04 onwards run an instance: two Redis connections (one to read, write and
 * publish; one that only listens, since a subscribed connection can do nothing else),
 * Redis and the bus connected before listening (one clear line and exit 1 when Redis is
 * missing, rather than a BYPASS on every request), outages logged once each but only once
 * started, and everything closed on Ctrl-C.
 */
export async function serveWithBus(options: ServeWithBusOptions): Promise<void> {
  let started = false;
  const log = (message: string) => {
    if (started) console.warn(message);
  };
  const redis = createRedisClient({ log });
  const subscriber = createRedisClient({ log });
  let locals: BusLocals | undefined;

  await serveLesson({
    lesson: options.lesson,
    ...(options.example ? { example: options.example } : {}),
    async createApp({ db }) {
      const instanceId =
        process.env.INSTANCE?.trim() || `port-${portFromEnv()}-${Math.random().toString(36).slice(2, 8)}`;
      const app = options.createApp({ db, redis, subscriber, instanceId });
      locals = app.locals as unknown as BusLocals;
      const ready = await Promise.race([
        whenReady(redis, 3_000).then(async (ok) => ok && (await locals?.ready.then(() => true))),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 3_000).unref()),
      ]);
      if (!ready) {
        console.error(
          `✗ Can't reach Redis at ${describeRedisUrl(redisUrlFromEnv())}. Start it with \`docker compose up -d\` or \`npx cachelab services up\`, or set REDIS_URL.`,
        );
        process.exit(1);
      }
      started = true;
      const banner = options.banner?.(app);
      if (banner) console.log(banner);
      return app;
    },
    async close() {
      await locals?.close();
      redis.disconnect();
      subscriber.disconnect();
    },
  });
}
