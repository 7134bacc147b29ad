import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { createUpstreamApp } from './upstream-app.ts';
import { startUpstreamStub } from './upstream-stub.ts';

/**
 * Step 3's numbers: requests that reach a slow, rate-limited upstream API, with and without
 * the cache in front of it.
 *
 *     npx tsx lessons/08-stampedes/src/measure-upstream.ts [--json]
 *
 * The upstream (upstream-stub.ts, in this process): 100 ms per answer, 10 requests a second
 * (then 429 with Retry-After), `Cache-Control: max-age=2`. The load: REQUESTS requests to
 * our API over 5 s, 10 every 50 ms whatever happens to the previous ones (an open load, as
 * users arrive), each for one of 5 currencies drawn in turn. Three runs: without the cache
 * (every request goes up), with it, and with it while the upstream answers 503 from 1 s to
 * 4 s of the run (stale-if-error at work).
 *
 * With `--json`, the table goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with steps/3-slow-upstream-api.md).
 */
export const FIGURES = [
  'requests',
  '{none,cache,outage}.{upstream,limited,ok,errors}',
  'cache.{hits,misses}',
  'outage.{stale,upstreamFailed}',
];
const json = process.argv.includes('--json');
const say = (line: string) => (json ? console.error : console.log)(line);
const REQUESTS = 1000;
const CURRENCIES = ['EUR', 'USD', 'GBP', 'JPY', 'CHF'];
const figures: Record<string, unknown> = { requests: REQUESTS };

async function run(name: 'none' | 'cache' | 'outage') {
  const stub = await startUpstreamStub({ latencyMs: 100, limit: 10, windowMs: 1000, maxAgeSeconds: 2 });
  const app = createUpstreamApp({ baseUrl: stub.url, cache: name !== 'none', log: () => {} });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const answers: Record<string, number> = {};
  const count = (k: string) => {
    answers[k] = (answers[k] ?? 0) + 1;
  };
  const inFlight: Promise<void>[] = [];
  const started = Date.now();
  for (let i = 0; i < REQUESTS; i += 10) {
    const elapsed = Date.now() - started;
    if (name === 'outage' && elapsed >= 1000 && elapsed < 4000) stub.fail(503);
    else if (name === 'outage' && elapsed >= 4000) stub.restore();
    for (let j = i; j < i + 10; j++) {
      const currency = CURRENCIES[j % CURRENCIES.length] as string;
      inFlight.push(
        fetch(`${base}/rates/${currency}`).then(async (res) => {
          await res.arrayBuffer();
          count(res.status === 200 ? `200 ${res.headers.get('x-cache')}` : String(res.status));
        }),
      );
    }
    const next = started + ((i + 10) / 10) * 50;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  await Promise.all(inFlight);
  await new Promise<void>((r) => server.close(() => r()));
  await stub.close();
  const ok = Object.entries(answers)
    .filter(([k]) => k.startsWith('200'))
    .reduce((n, [, v]) => n + v, 0);
  const result: Record<string, number> = {
    upstream: stub.stats.requests,
    limited: stub.stats.limited,
    ok,
    errors: REQUESTS - ok,
  };
  if (name === 'cache') Object.assign(result, { hits: answers['200 HIT'] ?? 0, misses: answers['200 MISS'] ?? 0 });
  if (name === 'outage') Object.assign(result, { stale: answers['200 STALE'] ?? 0, upstreamFailed: stub.stats.failed });
  figures[name] = result;
  const breakdown = Object.entries(answers)
    .sort()
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  say(
    `${{ none: 'without cache        ', cache: 'with cache           ', outage: 'with cache, 503 1s-4s' }[name]} upstream requests ${String(result.upstream).padStart(4)} (429: ${String(result.limited).padStart(4)})   our answers ${breakdown}`,
  );
}

say(
  `load average ${loadavg()[0]?.toFixed(2)}; ${REQUESTS} requests over 5 s to an upstream of 100 ms, 10 requests/s, max-age=2:`,
);
await run('none');
await run('cache');
await run('outage');
if (json) console.log(JSON.stringify(figures));
