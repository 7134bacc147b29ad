import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { createRedisClient } from './redis-client.ts';

/**
 * How long does one GET take when Redis is down, with ioredis' defaults and with this
 * lesson's client?
 *
 *   npx tsx lessons/03-redis-cache-aside/src/measure-redis-down.ts
 *
 * Both clients point at a port where nothing listens (the OS picks a free one).
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's README).
 */
export const FIGURES = ['{defaults,createRedisClient}Ms'];
const json = process.argv.includes('--json');
const figures: Record<string, number> = {};
const port = await new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const address = server.address();
    server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
  });
});
const url = `redis://127.0.0.1:${port}`;

const clients: [string, string, Redis][] = [
  ['defaults', 'ioredis defaults', new Redis(url)],
  ['createRedisClient', 'createRedisClient', createRedisClient({ url, log: () => {} })],
];
for (const [key, name, redis] of clients) {
  redis.on('error', () => {}); // silence the reconnection errors of the default client
  const started = performance.now();
  const outcome = await redis.get('any-key').then(
    () => 'answered',
    (err: Error) => `rejected ("${err.message}")`,
  );
  const ms = performance.now() - started;
  figures[`${key}Ms`] = ms;
  (json ? console.error : console.log)(
    `${name.padEnd(18)} GET with nothing on :${port} → ${outcome} after ${ms.toFixed(0)} ms`,
  );
  redis.disconnect();
}
if (json) console.log(JSON.stringify(figures));
