import { type HttpHarness, serve, useServices } from '@cachelab/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { createMemoryCacheStore } from '../src/memory-cache-store.ts';

/** The HTTP edges this lesson's app inherits from lesson 01: OPTIONS, 405, repeated and malformed parameters. */
const services = useServices();
let http: HttpHarness;

beforeAll(async () => {
  http = await serve(createApp({ db: services.db, store: createMemoryCacheStore(), log: () => {} }));
});
afterAll(() => http.close());
beforeEach(() => services.queries.reset());

describe('the HTTP edges inherited from lesson 01', () => {
  it.each(['/employees/42', '/payments', '/investors/DEMO_INV/summary'])(
    'answers OPTIONS %s with 204 and a POST with 405, both with Allow',
    async (path) => {
      const options = await http.request(path, { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      const post = await http.request(path, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(post.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      expect(services.queries.count).toBe(0);
    },
  );

  it('says a repeated parameter was given more than once, and a malformed %-escape that the URL is malformed', async () => {
    const twice = await http.get('/payments?investor=DEMO_INV&investor=OTHER&from=2024-01-01&to=2025-01-01');
    expect(twice.status).toBe(400);
    expect(twice.json<{ errors: unknown[] }>().errors).toEqual([
      { parameter: 'investor', message: expect.stringMatching(/more than once/) },
    ]);
    const malformed = await http.get('/investors/%zz/summary');
    expect(malformed.status).toBe(400);
    expect(malformed.json<{ type: string }>().type).toBe('urn:cachelab:problem:malformed-url');
    expect(services.queries.count).toBe(0);
  });
});
