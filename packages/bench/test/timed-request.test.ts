import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlVersion, timedGet } from '../src/timed-request.ts';

const BODY = Buffer.alloc(3 * 1024 * 1024, 97);
let server: Server;
let url: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    // HIT only when the request carried the header the test sends: proves headers go out.
    res.setHeader('X-Cache', req.headers['x-probe'] === 'yes' ? 'HIT' : 'MISS');
    res.setHeader('Server-Timing', 'l1;dur=0.1, total;dur=0.2');
    res.setHeader('Content-Length', BODY.length);
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const hasCurl = (await curlVersion()) !== undefined;

describe('timedGet', () => {
  for (const client of ['node', 'curl'] as const) {
    it.skipIf(client === 'curl' && !hasCurl)(`counts every byte, sends and reads headers with ${client}`, async () => {
      const res = await timedGet(url, { 'X-Probe': 'yes' }, client);
      expect(res.status).toBe(200);
      expect(res.bytes).toBe(BODY.length);
      expect(res.cache).toBe('HIT');
      expect(res.serverTiming).toBe('l1;dur=0.1, total;dur=0.2');
      expect(res.ms).toBeGreaterThan(0);
    });
  }

  it.skipIf(!hasCurl)('fails with curl’s own message when nothing listens', async () => {
    await expect(timedGet('http://127.0.0.1:1/', {}, 'curl')).rejects.toThrow(/curl|connect/i);
  });
});
