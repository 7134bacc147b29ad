import { execFileSync } from 'node:child_process';
import { getEmployee } from '@cachelab/lesson-01-uncached/queries';
import { useServices } from '@cachelab/testkit';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient, whenReady } from '../src/redis-client.ts';
import { jsonCodec, msgpackCodec, msgpackRecordsCodec, type ValueCodec, v8Codec } from '../src/value-codecs.ts';

/**
 * Step 4's claims about what each format keeps, each shown on a value that goes through the
 * real Redis (SET, then GET of the bytes) and, where the lesson's data has it, a real row.
 */
const services = useServices();
let redis: Redis;
beforeAll(async () => {
  redis = createRedisClient({ commandTimeoutMs: 2_000, log: () => {} });
  expect(await whenReady(redis), 'the client should connect to the shared Redis').toBe(true);
});
afterAll(() => redis.disconnect());

let n = 0;
/** `value` encoded by `codec`, stored in Redis, read back as bytes and decoded: a cache round trip. */
async function throughRedis(codec: ValueCodec, value: unknown): Promise<unknown> {
  const key = `${services.prefix}codec:${codec.name}:${n++}`;
  await redis.set(key, codec.encode(value), 'EX', 60);
  const bytes = await redis.getBuffer(key);
  expect(bytes, `${key} was not in Redis`).not.toBeNull();
  return codec.decode(bytes as Buffer);
}

describe('Date: a timestamptz from PostgreSQL', () => {
  it('arrives from pg as a Date, although lesson 01 types it as a string', async () => {
    const employee = await getEmployee(services.db, 42);
    expect(employee?.updated_at, 'pg returns timestamptz columns as Date objects').toBeInstanceOf(Date);
  });

  it('comes back from JSON as a string: the ISO text of the instant, no longer a Date', async () => {
    const employee = (await getEmployee(services.db, 42)) as unknown as { updated_at: Date };
    const back = (await throughRedis(jsonCodec, employee)) as { updated_at: unknown };
    expect(typeof back.updated_at).toBe('string');
    expect(back.updated_at).toBe(employee.updated_at.toISOString());
  });

  it('comes back from msgpackr and v8.serialize as a Date, the same instant', async () => {
    const employee = (await getEmployee(services.db, 42)) as unknown as { updated_at: Date };
    for (const codec of [msgpackCodec, msgpackRecordsCodec, v8Codec]) {
      const back = (await throughRedis(codec, employee)) as { updated_at: unknown };
      expect(back.updated_at, `${codec.name} did not give a Date back`).toBeInstanceOf(Date);
      expect((back.updated_at as Date).getTime(), codec.name).toBe(employee.updated_at.getTime());
    }
  });
});

describe('bigint', () => {
  const value = { id: 9_007_199_254_740_993n }; // 2^53 + 1: not a safe JavaScript number

  it('makes JSON.stringify throw: the SET never happens', () => {
    expect(() => jsonCodec.encode(value)).toThrow(TypeError);
    expect(() => jsonCodec.encode(value)).toThrow(/BigInt/);
  });

  it('comes back as the same bigint from msgpackr (up to 64 bits) and v8.serialize (any size)', async () => {
    for (const codec of [msgpackCodec, v8Codec])
      expect(await throughRedis(codec, value), codec.name).toEqual({ id: 9_007_199_254_740_993n });
    expect(() => msgpackCodec.encode({ id: 2n ** 70n }), 'msgpackr: beyond 64 bits').toThrow(/too large/);
    expect(await throughRedis(v8Codec, { id: 2n ** 70n })).toEqual({ id: 2n ** 70n });
  });
});

describe('Map and Set', () => {
  const value = { byDepartment: new Map([['finance', 3]]), tags: new Set(['vip', 'late']) };

  it('become {} in JSON: the entries are lost without an error', async () => {
    expect(await throughRedis(jsonCodec, value)).toEqual({ byDepartment: {}, tags: {} });
  });

  it('become a plain object and an array in msgpackr (default options): the data is kept, the types are not', async () => {
    const back = (await throughRedis(msgpackCodec, value)) as { byDepartment: unknown; tags: unknown };
    expect(back.byDepartment).not.toBeInstanceOf(Map);
    expect(back.byDepartment).toEqual({ finance: 3 });
    expect(back.tags).toEqual(['vip', 'late']);
  });

  it('come back as a Map and a Set from v8.serialize', async () => {
    const back = (await throughRedis(v8Codec, value)) as { byDepartment: unknown; tags: unknown };
    expect(back.byDepartment).toBeInstanceOf(Map);
    expect(back.tags).toBeInstanceOf(Set);
    expect(back).toEqual(value);
  });
});

describe('undefined, and class instances', () => {
  class Money {
    constructor(readonly cents: number) {}
    get euros() {
      return this.cents / 100;
    }
  }

  it('JSON drops a property that is undefined; msgpackr and v8 keep it', async () => {
    expect(Object.keys((await throughRedis(jsonCodec, { a: 1, b: undefined })) as object)).toEqual(['a']);
    for (const codec of [msgpackCodec, v8Codec])
      expect(Object.keys((await throughRedis(codec, { a: 1, b: undefined })) as object), codec.name).toEqual([
        'a',
        'b',
      ]);
  });

  it('every format gives a class instance back as a plain object: its methods and getters are gone', async () => {
    for (const codec of [jsonCodec, msgpackCodec, v8Codec]) {
      const back = (await throughRedis(codec, { price: new Money(1250) })) as { price: object };
      expect(back.price, codec.name).not.toBeInstanceOf(Money);
      expect((back.price as { euros?: unknown }).euros, codec.name).toBeUndefined();
    }
  });
});

describe('numeric(12,2): a string from pg already, unless a parser says otherwise', () => {
  const SQL = 'SELECT 12345678.90::numeric(12,2) AS amount';

  it('is a string with node-postgres as it comes (a process that never imported @cachelab/db)', () => {
    // A child process: @cachelab/db registers a NUMERIC parser on pg's global type table when
    // this file imports it, so the default can only be seen in a process without it.
    const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/cachelab';
    const script = `import pg from 'pg';
      const client = new pg.Client({ connectionString: ${JSON.stringify(url)} });
      await client.connect();
      const { rows } = await client.query(${JSON.stringify(SQL)});
      await client.end();
      process.stdout.write(JSON.stringify({ type: typeof rows[0].amount, value: rows[0].amount }));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: import.meta.dirname,
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(JSON.parse(out), 'pg leaves numeric as text, to lose no digit').toEqual({
      type: 'string',
      value: '12345678.90',
    });
    // A string survives every format exactly: JSON loses nothing here.
    expect(jsonCodec.decode(jsonCodec.encode({ amount: '12345678.90' }))).toEqual({ amount: '12345678.90' });
  });

  it('is a number through @cachelab/db (its parser), and JSON then writes 12345678.9: the cents are formatting now', async () => {
    const { rows } = await services.db.query<{ amount: unknown }>(SQL);
    expect(rows[0]?.amount).toBe(12345678.9);
    expect(jsonCodec.encode(rows[0]).toString()).toBe('{"amount":12345678.9}');
    const { rows: payments } = await services.db.query<{ amount: unknown }>(
      'SELECT amount FROM borrower_payments LIMIT 1',
    );
    expect(typeof payments[0]?.amount, 'a real payment amount, numeric(12,2)').toBe('number');
  });
});
