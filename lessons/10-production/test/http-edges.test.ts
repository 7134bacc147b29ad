import { expectAllowed, expectJsonOnly, expectMalformedJson, expectProblem, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { useInstances } from './instances.ts';

/** The HTTP edges this lesson's app inherits from lesson 01: OPTIONS, 405, 415, text that is not valid Unicode. */
const services = useServices();
const instance = useInstances(services);

beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

describe('the HTTP edges inherited from lesson 01', () => {
  it.each([
    ['/employees/42', 'GET, HEAD, PATCH, OPTIONS'],
    ['/employees/42/card', 'GET, HEAD, OPTIONS'],
    ['/me', 'GET, HEAD, OPTIONS'],
    ['/metrics', 'GET, HEAD, OPTIONS'],
  ])('answers OPTIONS %s with 204 and a DELETE with 405, both with Allow: %s', async (path, allow) => {
    const { http } = await instance('a');
    await expectAllowed(http, path, allow, 'DELETE');
  });

  it('answers a PATCH that is not labelled JSON with 415 and Accept-Patch', async () => {
    const { http } = await instance('a');
    await expectJsonOnly(http, 'PATCH', '/employees/42', '{"status":"out"}');
    expect(services.queries.count).toBe(0);
  });

  it("answers malformed JSON with a 400 that says where it breaks, in the workshop's words", async () => {
    const { http } = await instance('a');
    await expectMalformedJson(http, 'PATCH', '/employees/42');
    expect(services.queries.count).toBe(0);
  });

  it('rejects a name with a lone surrogate with a 400 naming it, before PostgreSQL and the cache', async () => {
    const { http } = await instance('a');
    const res = await http.request('/employees/46', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Ada \\ud800"}',
    });
    expect(expectProblem(res, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count).toBe(0);
    expect((await services.redisKeys()).filter((k) => !k.includes('#'))).toEqual([]);
  });
});
