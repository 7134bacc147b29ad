import { redisUrl, startChaosProxy } from '@cachelab/testkit';
import { createRedisClient, DEFAULT_COMMAND_TIMEOUT_MS, whenReady } from './redis-client.ts';

/**
 * What the 250 ms `commandTimeout` bounds, and what it does not, measured on the real Redis:
 *
 *   npx tsx lessons/03-redis-cache-aside/src/measure-command-timeout.ts
 *
 * Four situations, one line each: a reply that stalls after its first bytes; a GET queued
 * behind a batch in flight (each batch ~200 ms, through testkit's chaos proxy holding every
 * chunk 100 ms each way); the same against a frozen Redis; and an event loop busy for 400 ms
 * right after a GET was sent. test/command-timeout.test.ts asserts each of them.
 *
 * Writes under `cachelab:03:measure-timeout:` and deletes it afterwards.
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below (each the ms after
 * which the GET answered or failed) as one JSON object, what `npm run figures` compares with
 * the lesson's text.
 */
export const FIGURES = ['stalledReplyMs', 'batchGetMs', 'queuedGetMs', 'frozenGetMs', 'frozenQueuedMs', 'busyLoopMs'];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;
const figures: Record<string, number> = {};
const prefix = 'cachelab:03:measure-timeout:';
const timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS;
const setup = createRedisClient({ commandTimeoutMs: 10_000, log: () => {} });
if (!(await whenReady(setup, 5_000))) {
  console.error(`✗ Can't reach Redis at ${redisUrl()}.`);
  process.exit(1);
}
await setup.set(`${prefix}big`, Buffer.alloc(4_000_000, 'x'), 'EX', 60);
await setup.set(`${prefix}small`, Buffer.alloc(100_000, 'x'), 'EX', 60);
const proxy = await startChaosProxy({ upstream: redisUrl() });
const viaProxy = createRedisClient({ url: proxy.url, log: () => {} });
const direct = createRedisClient({ log: () => {} });
await Promise.all([whenReady(viaProxy), whenReady(direct)]);

/** `answered after 332 ms` or `failed ("Command timed out") after 266 ms`, kept as `figure`. */
async function outcome(get: Promise<unknown>, started: number, figure: string): Promise<string> {
  const said = await get.then(
    () => 'answered',
    (err: Error) => `failed ("${err.message}")`,
  );
  const ms = Math.round(performance.now() - started);
  figures[figure] = ms;
  return `${said} after ${ms} ms`;
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
async function until(read: () => boolean): Promise<void> {
  while (!read()) await nextTurn();
}

say(`commandTimeout ${timeoutMs} ms, auto-pipelining on (createRedisClient):`);

// 1. The reply begins, then stops: is reading it covered?
{
  const before = proxy.stats.bytesToClients;
  const started = performance.now();
  const get = outcome(viaProxy.getBuffer(`${prefix}big`), started, 'stalledReplyMs');
  await until(() => proxy.stats.bytesToClients > before);
  proxy.blackhole();
  say(`  a 4 MB reply that stalls after its first bytes      ${await get}`);
  proxy.restore();
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the held reply drain
}

// 2. A GET issued while a batch is in flight: its timer starts when its own batch leaves.
{
  proxy.delay(100);
  const sent = proxy.stats.bytesFromClients;
  const first = outcome(viaProxy.getBuffer(`${prefix}small`), performance.now(), 'batchGetMs');
  await until(() => proxy.stats.bytesFromClients > sent);
  const second = outcome(viaProxy.getBuffer(`${prefix}small`), performance.now(), 'queuedGetMs');
  say(`  a GET (batches ~200 ms each)                        ${await first}`);
  say(`  the GET queued behind it                            ${await second}`);
  proxy.restore();
}

// 3. The same against a frozen Redis: the batch in flight times out, then the one behind it.
{
  proxy.blackhole();
  const sent = proxy.stats.bytesFromClients;
  const first = outcome(viaProxy.getBuffer(`${prefix}small`), performance.now(), 'frozenGetMs');
  await until(() => proxy.stats.bytesFromClients > sent);
  const second = outcome(viaProxy.getBuffer(`${prefix}small`), performance.now(), 'frozenQueuedMs');
  say(`  Redis frozen: a GET                                 ${await first}`);
  say(`  Redis frozen: the GET queued behind it              ${await second}`);
  proxy.restore();
  await new Promise((resolve) => setTimeout(resolve, 200));
}

// 4. Redis answers at once, but this process is busy for 400 ms right after the GET leaves.
{
  const get = outcome(direct.getBuffer(`${prefix}small`), performance.now(), 'busyLoopMs');
  setImmediate(() => {
    const end = performance.now() + 400;
    while (performance.now() < end) {
      // busy, as a process is while it serializes a 17.8 MB answer for someone else
    }
  });
  say(`  100 kB, event loop busy 400 ms after the GET left  ${await get}`);
}

await setup.del(`${prefix}big`, `${prefix}small`);
viaProxy.disconnect();
direct.disconnect();
setup.disconnect();
await proxy.close();
if (json) console.log(JSON.stringify(figures));
