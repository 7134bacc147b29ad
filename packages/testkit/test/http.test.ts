import { describe, expect, it } from 'vitest';
import { serve } from '../src/http.ts';

describe('serve()', () => {
  it('names what went wrong when a request gets no answer, not just "fetch failed"', async () => {
    const http = await serve((req) => req.socket.destroy());
    try {
      await expect(http.get('/employees/7')).rejects.toThrow(/^GET \/employees\/7 got no response: \S+/);
    } finally {
      await http.close();
    }
  });

  it('answers 1,000 requests sent at once (more than the default listen backlog of 511)', async () => {
    const http = await serve((_req, res) => res.end('ok'));
    try {
      const all = await Promise.all(Array.from({ length: 1000 }, () => http.get('/')));
      expect(all.filter((r) => r.text === 'ok')).toHaveLength(1000);
    } finally {
      await http.close();
    }
  });
});
