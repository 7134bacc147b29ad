import { serve } from '@cachelab/testkit';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendJsonBytes } from '../src/send-bytes.ts';
import { requestLog } from '../src/serve.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/** An app behind the live request log, and the lines it printed. */
async function logged(route: express.RequestHandler) {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  const app = express();
  app.disable('x-powered-by'); // as serveLesson and every lesson do: no header is set before the route's
  requestLog(app);
  app.get('/employees/:id', route);
  const http = await serve(app);
  return { http, lines };
}

async function untilLogged(lines: string[]) {
  for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  return lines;
}

describe('the request log of `cachelab run`', () => {
  it('shows X-Cache and the Server-Timing metrics of a hit sent in one writeHead (sendJsonBytes)', async () => {
    const { http, lines } = await logged((_req, res) => {
      sendJsonBytes(res, Buffer.from('{"id":7}'), ['X-Cache', 'HIT', 'Server-Timing', 'l1;dur=0.1, total;dur=0.2']);
    });
    try {
      const res = await http.get('/employees/7');
      expect(res.cache).toBe('HIT');
      const [line] = await untilLogged(lines);
      expect(line).toMatch(/^GET {4}200 HIT .* ms {2}\/employees\/7 {2}l1 0\.1$/);
    } finally {
      await http.close();
    }
  });

  it('shows the headers set with setHeader, as before', async () => {
    const { http, lines } = await logged((_req, res) => {
      res.setHeader('X-Cache', 'MISS');
      res.setHeader('Server-Timing', 'db;dur=3.0;desc="PostgreSQL", total;dur=4.0');
      res.json({ id: 7 });
    });
    try {
      await http.get('/employees/7');
      const [line] = await untilLogged(lines);
      expect(line).toMatch(/ 200 MISS .*\/employees\/7 {2}db 3\.0$/);
    } finally {
      await http.close();
    }
  });
});
