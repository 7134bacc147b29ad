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

const NEW = { name: 'Ada Edge', email: 'ada.edge@test.example', department: 'Engineering' };

describe('the HTTP edges inherited from lesson 01', () => {
  it.each([
    ['/employees', 'POST, OPTIONS', 'GET'],
    ['/employees/42', 'GET, HEAD, PUT, PATCH, DELETE, OPTIONS', 'POST'],
    ['/departments', 'GET, HEAD, OPTIONS', 'DELETE'],
    ['/departments/sales/employees', 'GET, HEAD, OPTIONS', 'PUT'],
  ])('answers OPTIONS %s with 204 and Allow: %s, and %s with 405', async (path, allow, wrong) => {
    const { http } = await instance('a');
    await expectAllowed(http, path, allow, wrong);
    expect(services.queries.count).toBe(0);
  });

  it('names application/json on OPTIONS and answers every write in another media type with 415', async () => {
    const { http } = await instance('a');
    expect((await http.request('/employees', { method: 'OPTIONS' })).headers.get('accept-post')).toBe(
      'application/json',
    );
    expect((await http.request('/employees/42', { method: 'OPTIONS' })).headers.get('accept-patch')).toBe(
      'application/json',
    );
    await expectJsonOnly(http, 'POST', '/employees', JSON.stringify(NEW));
    await expectJsonOnly(http, 'PUT', '/employees/42', JSON.stringify(NEW));
    await expectJsonOnly(http, 'PATCH', '/employees/42', JSON.stringify(NEW));
    expect(services.queries.count).toBe(0);
  });

  it("answers malformed JSON with a 400 that says where it breaks, in the workshop's words", async () => {
    const { http } = await instance('a');
    await expectMalformedJson(http, 'POST', '/employees');
    await expectMalformedJson(http, 'PUT', '/employees/42');
    await expectMalformedJson(http, 'PATCH', '/employees/42');
    expect(services.queries.count).toBe(0);
  });

  it('rejects a lone surrogate in a name or an email with a 400 naming the field, before PostgreSQL', async () => {
    const { http } = await instance('a');
    const json = { 'content-type': 'application/json' };
    const post = await http.request('/employees', {
      method: 'POST',
      headers: json,
      body: '{"name":"Ada \\ud800","email":"ada.\\udc00@test.example","department":"Engineering"}',
    });
    expect(expectProblem(post, 400).errors?.map((e) => e.parameter)).toEqual(['name', 'email']);
    const put = await http.request('/employees/42', {
      method: 'PUT',
      headers: json,
      body: '{"name":"\\ud83d","email":"a@test.example","department":"Engineering","status":"in"}',
    });
    expect(expectProblem(put, 400).errors?.map((e) => e.parameter)).toEqual(['name']);
    expect(services.queries.count, 'the bad text reached PostgreSQL').toBe(0);
    expect(await services.redisKeys()).toEqual([]);
  });
});
