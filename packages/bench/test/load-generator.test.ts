import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoadGenerator } from '../src/load.ts';

let server: Server;
let url: string;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.setHeader('X-Cache', req.url === '/hit' ? 'HIT' : 'MISS');
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('startLoadGenerator', () => {
  it('runs plan after plan in one process, each with its own counts, and refuses runs once closed', async () => {
    const generator = startLoadGenerator();
    try {
      seen.length = 0;
      const first = await generator.run({ url, paths: ['/hit'], connections: 2, amount: 200 });
      const second = await generator.run({ url, paths: ['/miss', '/hit'], connections: 1, amount: 10 });
      expect(first.requests).toBe(200);
      expect(first.xCache).toEqual({ HIT: 200 });
      expect(second.requests).toBe(10);
      expect(second.xCache).toEqual({ MISS: 5, HIT: 5 });
      // The second run's sequence starts at its own first path, not where the first run stopped.
      expect(seen.slice(200, 202)).toEqual(['/miss', '/hit']);
    } finally {
      await generator.close();
    }
    await expect(generator.run({ url, paths: ['/hit'], amount: 1 })).rejects.toThrow(/closed/);
  });

  it('refuses a plan it cannot run without losing the process: the next run still works', async () => {
    const generator = startLoadGenerator();
    try {
      await expect(generator.run({ url: 'http://example.com', paths: ['/'], amount: 1 })).rejects.toThrow(
        /only 127\.0\.0\.1/,
      );
      await expect(generator.run({ url, paths: [], amount: 1 })).rejects.toThrow(/at least one path/);
      const after = await generator.run({ url, paths: ['/hit'], connections: 1, amount: 5 });
      expect(after.xCache).toEqual({ HIT: 5 });
    } finally {
      await generator.close();
    }
    await generator.close(); // twice is harmless
  });

  it('queues runs asked for at once instead of running them together', async () => {
    const generator = startLoadGenerator();
    try {
      const [a, b] = await Promise.all([
        generator.run({ url, paths: ['/hit'], connections: 1, amount: 50 }),
        generator.run({ url, paths: ['/miss'], connections: 1, amount: 50 }),
      ]);
      expect(a.xCache).toEqual({ HIT: 50 });
      expect(b.xCache).toEqual({ MISS: 50 });
    } finally {
      await generator.close();
    }
  });
});
