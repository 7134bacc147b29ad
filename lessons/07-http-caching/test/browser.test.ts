import { existsSync } from 'node:fs';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { type Browser, type CDPSession, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppLocals, createApp } from '../src/app.ts';

/**
 * The lesson's headers in a real browser: headless Chromium (Debian's `chromium` package;
 * CHROMIUM_PATH to use another binary) loads our URLs, and we watch both ends: what the
 * server received (every request, its If-None-Match, our status) and what Chromium's
 * network layer reports over the DevTools protocol (the status on the wire, from disk cache).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const services = useServices();

interface Seen {
  url: string;
  ifNoneMatch: string | undefined;
  status: number;
}
interface Observed {
  url: string;
  /** What the page was given (a revalidated copy is a 200 to the page). */
  status: number;
  fromDiskCache: boolean;
  /** What came over the wire, when anything did: 304 for a revalidation. */
  wireStatus?: number;
}

describe.skipIf(!existsSync(CHROMIUM))('in a real browser (headless Chromium)', () => {
  let http: HttpHarness;
  let browser: Browser;
  let close: () => Promise<void>;
  const seen: Seen[] = [];

  beforeAll(async () => {
    const redis = createRedisClient({ log: () => {} });
    const subscriber = createRedisClient({ log: () => {} });
    await whenReady(redis);
    const app = createApp({ db: services.db, redis, subscriber, keyPrefix: services.prefix, log: () => {} });
    const locals = app.locals as AppLocals;
    await locals.ready;
    http = await serve((req, res) => {
      res.on('finish', () => {
        const inm = req.headers['if-none-match'];
        seen.push({ url: req.url ?? '', ifNoneMatch: inm, status: res.statusCode });
      });
      app(req, res);
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // --no-sandbox for root in a container; the rest stop background traffic to Google's hosts (CI has only loopback).
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    close = async () => {
      await browser.close();
      await http.close();
      await locals.close();
      redis.disconnect();
      subscriber.disconnect();
    };
  });
  afterAll(() => close?.());

  /** A fresh browser profile (empty HTTP cache), and what its network layer reports. */
  async function openPage(): Promise<{ page: Page; observed: Observed[] }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cdp: CDPSession = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const observed: Observed[] = [];
    const byId = new Map<string, Observed>();
    const wire = new Map<string, number>();
    cdp.on('Network.responseReceived', (e) => {
      const o: Observed = { url: e.response.url, status: e.response.status, fromDiskCache: !!e.response.fromDiskCache };
      const status = wire.get(e.requestId);
      if (status !== undefined) o.wireStatus = status;
      byId.set(e.requestId, o);
      observed.push(o);
    });
    // Extra info may arrive before or after responseReceived.
    cdp.on('Network.responseReceivedExtraInfo', (e) => {
      wire.set(e.requestId, e.statusCode);
      const o = byId.get(e.requestId);
      if (o) o.wireStatus = e.statusCode;
    });
    return { page, observed };
  }
  const requestsFor = (path: string) => seen.filter((s) => s.url === path);

  it('navigating to an employee twice revalidates: Chromium sends If-None-Match, gets 304, shows its copy', async () => {
    const { page, observed } = await openPage();
    const path = '/employees/31';
    const first = await page.goto(http.url + path);
    const etag = first?.headers().etag;
    const second = await page.goto(http.url + path);
    expect(await second?.json()).toMatchObject({ id: 31 });

    expect(requestsFor(path), 'what the server received').toEqual([
      { url: path, ifNoneMatch: undefined, status: 200 },
      { url: path, ifNoneMatch: etag, status: 304 },
    ]);
    await expect.poll(() => observed.filter((o) => o.url.endsWith(path)).map((o) => o.wireStatus)).toEqual([200, 304]);
  });

  it('fetching the payments again within max-age is answered by the disk cache: no request reaches the server', async () => {
    const { page, observed } = await openPage();
    await page.goto(`${http.url}/`);
    const path = '/payments?investor=DEMO_INV&from=2024-03-01&to=2024-04-01&limit=50';
    const counts = await page.evaluate(async (url) => {
      const out: number[] = [];
      for (let i = 0; i < 2; i++) out.push(((await (await fetch(url)).json()) as { count: number }).count);
      return out;
    }, path);
    expect(counts).toEqual([50, 50]);
    expect(requestsFor(path).length, 'the second fetch reached the server although the copy was fresh').toBe(1);
    await expect
      .poll(() => observed.filter((o) => o.url.endsWith(path)).map((o) => o.fromDiskCache))
      .toEqual([false, true]);
  });

  it('keeps /me per user: the same user revalidates (304), another user gets their own profile', async () => {
    const { page } = await openPage();
    await page.goto(`${http.url}/`);
    const ids = await page.evaluate(async () => {
      const me = async (user: number) => {
        const res = await fetch('/me', { headers: { authorization: `Bearer ${user}` } });
        return ((await res.json()) as { id: number }).id;
      };
      return [await me(32), await me(32), await me(33)];
    });
    expect(ids, 'the browser served one user’s profile to another').toEqual([32, 32, 33]);
    expect(
      requestsFor('/me').map((s) => [s.status, s.ifNoneMatch === undefined ? 'unconditional' : 'conditional']),
    ).toEqual([
      [200, 'unconditional'],
      [304, 'conditional'],
      // Chromium 156 revalidates user 33's request with user 32's ETag (its cache holds one
      // entry per URL and checks Vary afterwards). Only a 200 is right here: the ETags differ
      // because the bodies do. An ETag shared by both users would get a 304, and user 32's page.
      [200, expect.any(String)],
    ]);
  });
});
