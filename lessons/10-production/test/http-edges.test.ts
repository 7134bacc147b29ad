import type { TestResponse } from '@cachelab/testkit';
import { useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { useInstances } from './instances.ts';

/** The HTTP edges this lesson's app inherits from lesson 01: OPTIONS, 405, 415, text that is not valid Unicode. */
const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

function problem(res: TestResponse, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  return res.json<{ type: string; detail: string; errors?: { parameter: string; message: string }[] }>();
}

describe('the HTTP edges inherited from lesson 01', () => {
  it.each([
    ['/employees/42', 'GET, HEAD, PATCH, OPTIONS'],
    ['/employees/42/card', 'GET, HEAD, OPTIONS'],
    ['/me', 'GET, HEAD, OPTIONS'],
    ['/metrics', 'GET, HEAD, OPTIONS'],
  ])('answers OPTIONS %s with 204 and a DELETE with 405, both with Allow: %s', async (path, allow) => {
    const { http } = await instance('a');
    const options = await http.request(path, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe(allow);
    const res = await http.request(path, { method: 'DELETE' });
    expect(problem(res, 405).type).toBe('urn:cachelab:problem:method-not-allowed');
    expect(res.headers.get('allow')).toBe(allow);
  });

  it('answers a PATCH that is not labelled JSON with 415 and Accept-Patch', async () => {
    const { http } = await instance('a');
    const res = await http.request('/employees/42', {
      method: 'PATCH',
      headers: { 'content-type': 'text/plain' },
      body: '{"status":"out"}',
    });
    expect(problem(res, 415).detail).toContain('application/json');
    expect(res.headers.get('accept-patch')).toBe('application/json');
    expect(services.queries.count).toBe(0);
  });

  it('rejects a name with a lone surrogate with a 400 naming it, before PostgreSQL and the cache', async () => {
    const { http } = await instance('a');
    const res = await http.request('/employees/46', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Ada \\ud800"}',
    });
    expect(problem(res, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count).toBe(0);
    expect((await services.redisKeys()).filter((k) => !k.includes('#'))).toEqual([]);
  });
});
