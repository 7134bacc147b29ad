import { serve } from '@cachelab/testkit';
import express from 'express';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sendJsonBytes } from '../src/send-bytes.ts';
import { requestLog } from '../src/serve.ts';
import { serverTiming, time } from '../src/server-timing.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

/**
 * A lesson's app mounted behind the live request log, as serveLesson does it, and the lines
 * the log printed. `middleware` runs in the lesson's app before the route.
 */
async function logged(route: express.RequestHandler, middleware: express.RequestHandler[] = []) {
  const lines: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  const lesson = express();
  lesson.disable('x-powered-by'); // as every lesson does: no header is set before the route's
  for (const m of middleware) lesson.use(m);
  lesson.get('/employees/:id', route);
  const outer = express();
  outer.disable('x-powered-by');
  requestLog(outer);
  outer.use(lesson);
  const http = await serve(outer);
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

  it("keeps the lesson's serverTiming() middleware working: its header reaches the client and the log", async () => {
    const { http, lines } = await logged(
      async (_req, res) => {
        await time(res, 'db', () => new Promise((r) => setTimeout(r, 5)));
        res.json({ id: 7 });
      },
      [serverTiming()],
    );
    try {
      const res = await http.get('/employees/7');
      expect(res.timing.db, 'Server-Timing db on the wire').toBeGreaterThan(0);
      const [line] = await untilLogged(lines);
      expect(line).toMatch(/ 200 - .*\/employees\/7 {2}db \d+\.\d$/);
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
