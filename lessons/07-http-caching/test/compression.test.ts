import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createRedisClient, whenReady } from '@cachelab/lesson-03-redis-cache-aside/redis-client';
import { expectProblem, serve, type TestResponse, useServices } from '@cachelab/testkit';
import CachePolicy from 'http-cache-semantics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppDeps, type AppLocals, createApp } from '../src/app.ts';
import { type CompressionOptions, negotiateCoding } from '../src/compression.ts';
import { strongEtag } from '../src/representation.ts';

const services = useServices();
const cleanups: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});

/** The raw answer, as the bytes came over the wire: fetch would decompress them behind our back. */
interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One instance of lesson 07's app with step 3's compression on, and a raw HTTP client for it. */
async function instance(compression: CompressionOptions = {}, options: Partial<AppDeps> = {}) {
  const redis = createRedisClient({ log: () => {} });
  const subscriber = createRedisClient({ log: () => {} });
  cleanups.push(() => {
    redis.disconnect();
    subscriber.disconnect();
  });
  await whenReady(redis);
  const app = createApp({
    db: services.db,
    redis,
    subscriber,
    keyPrefix: services.prefix,
    log: () => {},
    compression,
    ...options,
  });
  const locals = app.locals as AppLocals;
  cleanups.push(() => locals.close());
  await locals.ready;
  const http = await serve(app);
  cleanups.push(() => http.close());
  const get = (path: string, headers: Record<string, string> = {}) =>
    new Promise<Raw>((resolve, reject) => {
      const req = httpRequest(`${http.url}${path}`, { headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  const compressions = () => locals.compression?.compressions ?? 0;
  return { get, redis, compressions };
}

/** 1,000 payments, about 180 KB of JSON: big enough to compress, small enough for a busy CI. */
const PAGE = '/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1000';
const GZIP = { 'accept-encoding': 'gzip' };
const BR = { 'accept-encoding': 'br' };
const varyOf = (raw: Raw) =>
  String(raw.headers.vary ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase());

describe('Accept-Encoding: which coding a request gets', () => {
  it('takes the accepted coding with the highest q, ours (br, then gzip) on a tie, identity otherwise', () => {
    expect(negotiateCoding(undefined), 'no Accept-Encoding (curl without --compressed)').toBe('identity');
    expect(negotiateCoding(''), 'an empty Accept-Encoding accepts identity only').toBe('identity');
    expect(negotiateCoding('gzip, deflate, br')).toBe('br');
    expect(negotiateCoding('gzip, deflate')).toBe('gzip');
    expect(negotiateCoding('br;q=0.5, gzip')).toBe('gzip');
    expect(negotiateCoding('x-gzip')).toBe('gzip');
    expect(negotiateCoding('gzip;q=0'), 'q=0 means "not acceptable"').toBe('identity');
    expect(negotiateCoding('*')).toBe('br');
    expect(negotiateCoding('*, br;q=0')).toBe('gzip');
    expect(negotiateCoding('identity')).toBe('identity');
    expect(negotiateCoding('deflate')).toBe('identity');
  });
});

describe('compressed answers (step 3)', () => {
  it('sends gzip and Brotli bytes that decompress to exactly the identity body, each with Content-Encoding', async () => {
    const { get } = await instance();
    const plain = await get(PAGE);
    const gz = await get(PAGE, GZIP);
    const br = await get(PAGE, BR);
    expect([plain.status, gz.status, br.status]).toEqual([200, 200, 200]);
    expect(plain.headers['content-encoding'], 'a request without Accept-Encoding gets identity').toBeUndefined();
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(br.headers['content-encoding']).toBe('br');
    expect(gunzipSync(gz.body).equals(plain.body), 'the gzip body is not the identity body compressed').toBe(true);
    expect(brotliDecompressSync(br.body).equals(plain.body), 'the br body is not the identity body compressed').toBe(
      true,
    );
    expect(gz.body.length, 'gzip should make 1,000 payments much smaller').toBeLessThan(plain.body.length / 3);
    expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
  });

  it('says Vary: Accept-Encoding on every answer whose coding depends on it: identity, gzip, br and the 304', async () => {
    const { get } = await instance();
    const plain = await get(PAGE);
    const gz = await get(PAGE, GZIP);
    const notModified = await get(PAGE, { ...GZIP, 'if-none-match': gz.headers.etag as string });
    expect(notModified.status).toBe(304);
    for (const [name, raw] of Object.entries({
      identity: plain,
      gzip: gz,
      br: await get(PAGE, BR),
      '304': notModified,
    }))
      expect(varyOf(raw), `the ${name} answer has no Vary: Accept-Encoding`).toContain('accept-encoding');
  });

  it('gives each coding its own strong ETag, the hash of the bytes that coding sends', async () => {
    const { get } = await instance();
    const plain = await get(PAGE);
    const gz = await get(PAGE, GZIP);
    const br = await get(PAGE, BR);
    const tags = [plain.headers.etag, gz.headers.etag, br.headers.etag];
    expect(new Set(tags).size, `one ETag for two different bodies: ${tags.join(' ')}`).toBe(3);
    expect(plain.headers.etag).toBe(strongEtag(plain.body));
    expect(gz.headers.etag, 'the gzip ETag must be the hash of the gzip bytes').toBe(strongEtag(gz.body));
    expect(br.headers.etag, 'the br ETag must be the hash of the br bytes').toBe(strongEtag(br.body));
    for (const tag of tags) expect(tag?.startsWith('W/'), `${tag} is weak`).toBe(false);
    expect(gz.headers['last-modified'], 'Last-Modified is the data’s, the same in every coding').toBe(
      plain.headers['last-modified'],
    );
  });

  it('answers If-None-Match with the gzip ETag by 304 only on a gzip request; an identity request gets identity bytes', async () => {
    const { get } = await instance();
    const plain = await get(PAGE);
    const gz = await get(PAGE, GZIP);
    const gzipTag = gz.headers.etag as string;
    const again = await get(PAGE, { ...GZIP, 'if-none-match': gzipTag });
    expect(again.status, 'the gzip copy is current: 304').toBe(304);
    expect(again.headers.etag).toBe(gzipTag);
    expect(again.body.length).toBe(0);

    const identity = await get(PAGE, { 'if-none-match': gzipTag });
    expect(identity.status, 'a client without gzip holding the gzip ETag must not be told its copy is current').toBe(
      200,
    );
    expect(identity.headers['content-encoding']).toBeUndefined();
    expect(identity.body.equals(plain.body), 'an identity request must get the identity bytes').toBe(true);
    expect(identity.headers.etag).toBe(plain.headers.etag);

    const brWithGzipTag = await get(PAGE, { ...BR, 'if-none-match': gzipTag });
    expect(brWithGzipTag.status).toBe(200);
    expect(brWithGzipTag.headers['content-encoding']).toBe('br');
  });

  it('sends identity bytes to every request that does not accept ours, even when another coding is kept', async () => {
    const { get } = await instance();
    const plain = await get(PAGE);
    await get(PAGE, GZIP); // now a gzip copy is kept with the entry
    for (const accept of ['identity', 'gzip;q=0', 'deflate', '']) {
      const res = await get(PAGE, { 'accept-encoding': accept });
      expect(res.headers['content-encoding'], `Accept-Encoding: ${accept}`).toBeUndefined();
      expect(res.body.equals(plain.body), `Accept-Encoding: ${accept} got other bytes`).toBe(true);
    }
  });

  it('compresses once per cached entry and coding, not once per request', async () => {
    const { get, compressions } = await instance();
    const first = await get(PAGE, GZIP);
    expect(first.headers['server-timing'], 'the first gzip request compresses, and says so').toMatch(/compress;dur=/);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get(PAGE, GZIP));
    expect(compressions(), 'five gzip requests for one entry').toBe(1);
    for (const res of answers) {
      expect(res.body.equals(first.body)).toBe(true);
      expect(res.headers['server-timing'], 'a kept gzip copy needs no compression').not.toMatch(/compress;/);
    }
    await Promise.all([get(PAGE, BR), get(PAGE, BR), get(PAGE, BR)]);
    expect(compressions(), 'three concurrent br requests share one compression').toBe(2);
  });

  it('per request (what a compression middleware does) it compresses every time: the count the step measures', async () => {
    const { get, compressions } = await instance({ perRequest: true });
    for (let i = 0; i < 3; i++) await get(PAGE, GZIP);
    expect(compressions()).toBe(3);
  });

  it('leaves small bodies alone: an employee is identity, with no Vary: Accept-Encoding', async () => {
    const { get, compressions } = await instance();
    const res = await get('/employees/42', GZIP);
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(varyOf(res)).not.toContain('accept-encoding');
    expect(compressions()).toBe(0);
  });

  it('never compresses a 400 for bad input, and never keeps it: problem+json, no-store, nothing in Redis', async () => {
    const { get, redis, compressions } = await instance();
    const bad = await get('/payments?investor=DEMO_INV&from=2024-13-01&to=2025-01-01&limit=1000', GZIP);
    expect(bad.status).toBe(400);
    expect(bad.headers['content-encoding'], 'a 400 must not be compressed').toBeUndefined();
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.headers['cache-control']).toBe('no-store');
    expect(bad.headers.etag, 'an error has no ETag').toBeUndefined();
    const asResponse = {
      status: bad.status,
      headers: new Headers(Object.entries(bad.headers).map(([k, v]) => [k, String(v)])),
      text: bad.body.toString('utf8'),
      json: <T>() => JSON.parse(bad.body.toString('utf8')) as T,
      cache: undefined,
      timing: {},
    } satisfies TestResponse;
    expect(expectProblem(asResponse, 400).detail).toBeTruthy();
    expect(compressions(), 'the 400 went through the compressor').toBe(0);
    expect(await redis.keys(`${services.prefix}*`), 'the 400 left something in Redis').toEqual([]);
  });
});

describe('what a shared cache does with Vary: Accept-Encoding, and without it (http-cache-semantics)', () => {
  const policyOf = (path: string, raw: Raw, requestHeaders: Record<string, string>) =>
    new CachePolicy(
      { url: path, method: 'GET', headers: { host: '127.0.0.1', ...requestHeaders } },
      { status: raw.status, headers: raw.headers as Record<string, string> },
      { shared: true },
    );

  it('with Vary it keeps the gzip copy for gzip requests only; without it, it would hand gzip bytes to anyone', async () => {
    const { get } = await instance();
    const gz = await get(PAGE, GZIP);
    const ours = policyOf(PAGE, gz, GZIP);
    const identityRequest = { url: PAGE, method: 'GET', headers: { host: '127.0.0.1' } };
    const gzipRequest = { url: PAGE, method: 'GET', headers: { host: '127.0.0.1', ...GZIP } };
    expect(ours.storable()).toBe(true);
    expect(ours.satisfiesWithoutRevalidation(gzipRequest)).toBe(true);
    expect(
      ours.satisfiesWithoutRevalidation(identityRequest),
      'our gzip copy was served to a client without gzip',
    ).toBe(false);

    const { vary: _vary, ...withoutVary } = gz.headers;
    const careless = policyOf(PAGE, { ...gz, headers: withoutVary }, GZIP);
    expect(
      careless.satisfiesWithoutRevalidation(identityRequest),
      'without Vary a shared cache serves the stored gzip bytes to every request for the URL',
    ).toBe(true);
  });
});
