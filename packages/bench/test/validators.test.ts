import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadGenerator } from '../src/load.ts';
import { listenLocal } from '../src/reference-strategies.ts';
import { collectValidators } from '../src/validators.ts';

// A server with an ETag per path that answers 304 to the matching If-None-Match, like lesson 07.
let server: { url: string; close(): Promise<void> };
beforeAll(async () => {
  server = await listenLocal((req, res) => {
    if (req.url === '/no-etag') return void res.end('{}');
    const etag = `"tag-of-${req.url}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { ETag: etag }).end();
    res.writeHead(200, { ETag: etag, 'Content-Type': 'application/json' }).end('{}');
  });
});
afterAll(() => server.close());

describe('collectValidators', () => {
  it('gets the ETag of every distinct path once, as the If-None-Match a revalidating client sends', async () => {
    const headersByPath = await collectValidators(server.url, ['/a', '/b', '/a'], { concurrency: 2 });
    expect(headersByPath).toEqual({
      '/a': { 'If-None-Match': '"tag-of-/a"' },
      '/b': { 'If-None-Match': '"tag-of-/b"' },
    });
    // Sent with a load plan, every answer is a 304.
    const generator = startLoadGenerator();
    try {
      const load = await generator.run({ url: server.url, paths: ['/a', '/b'], headersByPath, amount: 50 });
      expect(load.statuses).toEqual({ '3xx': 50 });
    } finally {
      await generator.close();
    }
  });

  it('refuses a path that answers without an ETag, naming it: a benchmark of 304s must not measure 200s', async () => {
    await expect(collectValidators(server.url, ['/a', '/no-etag'])).rejects.toThrow(
      /GET \/no-etag answered 200 without an ETag/,
    );
  });

  it('refuses a host other than this machine', async () => {
    await expect(collectValidators('http://example.com', ['/a'])).rejects.toThrow(/only 127\.0\.0\.1/);
  });
});
