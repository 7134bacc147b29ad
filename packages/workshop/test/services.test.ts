import { databaseUrl } from '@cachelab/db';
import { freePort, startChaosProxy } from '@cachelab/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { composePlan, serviceStates, servicesUp } from '../src/services.ts';

/**
 * `services up` with a Docker engine, without one: compose is replaced by a function that
 * records what it was asked and, when a test says so, "starts" PostgreSQL by forwarding the
 * port compose was given to the shared server. The URLs and what answers on them are real.
 */
const saved = { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL };
afterEach(() => {
  for (const [name, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** DATABASE_URL on a port where nothing listens; Redis stays the shared, answering one. */
async function postgresDown(): Promise<number> {
  const port = await freePort();
  process.env.DATABASE_URL = `postgres://postgres@127.0.0.1:${port}/cachelab`;
  return port;
}

describe('services up with a Docker engine', () => {
  it('starts only what does not answer, on the ports DATABASE_URL and REDIS_URL name', async () => {
    const [pgPort, redisPort] = [await freePort(), await freePort()];
    process.env.DATABASE_URL = `postgres://postgres@127.0.0.1:${pgPort}/cachelab`;
    process.env.REDIS_URL = `redis://127.0.0.1:${redisPort}`;
    expect(composePlan(await serviceStates())).toEqual({
      services: ['postgres', 'redis'],
      env: { CACHELAB_PG_PORT: String(pgPort), CACHELAB_REDIS_PORT: String(redisPort) },
    });
    delete process.env.REDIS_URL;
    expect(composePlan(await serviceStates()), 'Redis answers: compose must not try to bind 6379').toEqual({
      services: ['postgres'],
      env: { CACHELAB_PG_PORT: String(pgPort) },
    });
  });

  it('fails, naming the URL, when compose succeeds but what DATABASE_URL names still does not answer', async () => {
    const port = await postgresDown();
    const calls: { args: string[]; env: Record<string, string> }[] = [];
    const report = await servicesUp({
      docker: () => true,
      compose: async (args, env) => {
        calls.push({ args, env });
        return 0;
      },
      answerTimeoutMs: 300,
    });
    expect(calls).toEqual([{ args: ['up', '-d', '--wait', 'postgres'], env: { CACHELAB_PG_PORT: String(port) } }]);
    expect(report.ok).toBe(false);
    expect(report.lines).toContainEqual({
      outcome: 'fail',
      text: expect.stringMatching(
        new RegExp(
          `^docker compose finished, but PostgreSQL at 127\\.0\\.0\\.1:${port}/cachelab does not answer: .*DATABASE_URL`,
        ),
      ),
    });
  });

  it('reports success once what DATABASE_URL names answers', async () => {
    const port = await postgresDown();
    const started: Awaited<ReturnType<typeof startChaosProxy>>[] = [];
    try {
      const report = await servicesUp({
        docker: () => true,
        // "compose" publishes PostgreSQL on the port it was given: the shared server, forwarded.
        compose: async (_args, env) => {
          const upstream = databaseUrl(saved);
          started.push(await startChaosProxy({ upstream, port: Number(env.CACHELAB_PG_PORT) }));
          return 0;
        },
        answerTimeoutMs: 5_000,
      });
      expect(report.lines.map((l) => l.outcome)).toEqual(['ok', 'ok', 'ok']);
      expect(report.lines[1]?.text).toBe(`PostgreSQL answers at 127.0.0.1:${port}/cachelab (docker compose).`);
      expect(report.ok).toBe(true);
    } finally {
      for (const proxy of started) await proxy.close();
    }
  });

  it('says a failed compose failed, with the command it ran', async () => {
    const port = await postgresDown();
    const report = await servicesUp({ docker: () => true, compose: async () => 1 });
    expect(report).toEqual({
      ok: false,
      lines: [
        {
          outcome: 'fail',
          text: `\`CACHELAB_PG_PORT=${port} docker compose up -d --wait postgres\` failed; see its output above.`,
        },
      ],
    });
  });
});

describe('services up when a URL names another machine', () => {
  it('starts nothing here and says so', async () => {
    process.env.DATABASE_URL = 'postgres://postgres@db.invalid:5432/cachelab';
    let composed = false;
    const report = await servicesUp({
      docker: () => true,
      compose: async () => {
        composed = true;
        return 0;
      },
    });
    expect(composed).toBe(false);
    expect(report.ok).toBe(false);
    expect(report.lines).toEqual([
      {
        outcome: 'fail',
        text: expect.stringMatching(
          /^PostgreSQL at db\.invalid:5432\/cachelab \(DATABASE_URL\) does not answer, and it is on another machine/,
        ),
      },
    ]);
  });
});
