import { type TestResponse, useServices } from '@cachelab/testkit';
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../src/app.ts';
import { type Instance, useInstances } from './instances.ts';

/**
 * The breaker must not trip on a HEALTHY Redis. Two instances with the production settings
 * (main.ts's command timeout, the default breaker) take a burst of concurrent misses and
 * PATCHes, in this process, next to the test's own HTTP client: the event loop is busy, as
 * under the bench's load, and Redis is fine. With a 100 ms timeout and 5 failures to open,
 * such a burst made commands time out and the circuit open. Nothing is asserted about time.
 */
const services = useServices();
const instance = useInstances(services);
beforeEach(async () => {
  await services.clearRedis();
  services.queries.reset();
});

const GETS_PER_INSTANCE = 100;
const PATCHES_PER_INSTANCE = 10;

describe('a healthy Redis under a burst of concurrent requests', () => {
  it(`never answers BYPASS nor fails an invalidation with the production settings (timeout ${DEFAULTS.commandTimeoutMs} ms, ${DEFAULTS.breaker.failureThreshold} failures to open)`, async () => {
    const options = { commandTimeoutMs: DEFAULTS.commandTimeoutMs };
    const apps = [await instance('a', options), await instance('b', options)];
    const burst = (app: Instance, first: number): Promise<TestResponse>[] => [
      // Misses, each a different employee: a GET, a generation read and a SET each.
      ...Array.from({ length: GETS_PER_INSTANCE }, (_, i) => app.http.get(`/employees/${first + i}`)),
      ...Array.from({ length: PATCHES_PER_INSTANCE }, (_, i) =>
        app.http.request(`/employees/${first + i * 10}`, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ status: i % 2 === 0 ? 'in' : 'out' }),
        }),
      ),
    ];
    const answers = await Promise.all([...burst(apps[0] as Instance, 1_000), ...burst(apps[1] as Instance, 2_000)]);
    expect(answers.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const bypassed = answers.filter((r) => r.cache === 'BYPASS').length;
    const failed = answers.filter((r) => r.headers.get('x-cache-invalidation') === 'failed').length;
    const logs = apps.flatMap((app) => app.logs);
    expect({ bypassed, failed }, `a healthy Redis looked failed:\n${logs.join('\n')}`).toEqual({
      bypassed: 0,
      failed: 0,
    });
    for (const app of apps) {
      expect(app.locals.cache.circuit).toBe('closed');
      expect(await app.metric('cache_circuit_transitions_total', { to: 'open' })).toBe(0);
      expect(await app.metric('cache_l2_errors_total', { operation: 'get' })).toBe(0);
    }
  });
});
