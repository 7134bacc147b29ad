import { spawnSync } from 'node:child_process';
import { type PrivateRedis, startPrivateRedis } from '../src/private-redis.ts';

/**
 * A redis-server of the test's own, on a free port, that the test may kill, restart and
 * pause. Tests that make Redis fail use this one: the shared Redis on 6379 serves every
 * other test file in parallel and is never stopped. The server itself is src/private-redis.ts,
 * the one step 3's measure-maxmemory.ts starts, with no redis.conf directives of its own.
 */

/** True when `redis-server` is on PATH (it is wherever `cachelab services` can run Redis). */
export const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

export { freePort } from '@cachelab/testkit';

/** start() restarts it on the same port (empty), kill() is a crash (SIGKILL), pause()/resume() freeze it (SIGSTOP/SIGCONT). */
export type OwnRedis = PrivateRedis;

export function startOwnRedis(): Promise<OwnRedis> {
  return startPrivateRedis();
}
