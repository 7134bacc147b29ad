import { describe, expect, it } from 'vitest';
import { serve } from '../src/http.ts';
import { captureServerLog, describeLogged } from '../src/server-log.ts';

describe('captureServerLog()', () => {
  it('says what the server logged after a 5xx, and nothing after any other status', async () => {
    const server = captureServerLog();
    const http = await serve((req, res) => {
      if (req.url === '/ok') return void res.end('ok');
      server.log(new Error('Redis get failed: Command timed out'));
      server.log(new TypeError("Cannot read properties of undefined (reading 'body')"));
      res.statusCode = 500;
      res.setHeader('content-type', 'application/problem+json');
      res.end(JSON.stringify({ status: 500, detail: 'Something went wrong on our side' }));
    });
    try {
      const failed = await http.get('/boom');
      expect(server.said(failed)).toMatch(
        /^ \(the server logged: TypeError: Cannot read properties of undefined \(reading 'body'\)( at \S+)?\)$/,
      );
      expect(server.said(await http.get('/ok'))).toBe('');
      expect(server.entries).toHaveLength(2);
      server.clear();
      expect(server.entries).toHaveLength(0);
    } finally {
      await http.close();
    }
  });

  it("falls back to the problem's detail when a 5xx was not logged (a 503 the handler knows)", async () => {
    const server = captureServerLog();
    const http = await serve((_req, res) => {
      res.statusCode = 503;
      res.setHeader('content-type', 'application/problem+json');
      res.end(JSON.stringify({ status: 503, detail: 'The database is overloaded.' }));
    });
    try {
      expect(server.said(await http.get('/'))).toBe(' (the server answered: "The database is overloaded.")');
    } finally {
      await http.close();
    }
  });

  it("gives a 4xx problem's detail, and nothing for an answer that is not a problem", async () => {
    const server = captureServerLog();
    const http = await serve((req, res) => {
      res.statusCode = req.url === '/missing' ? 404 : 400;
      if (req.url === '/plain') return void res.end('no');
      res.setHeader('content-type', 'application/problem+json');
      res.end(JSON.stringify({ status: 404, detail: 'There is no employee with id 7.' }));
    });
    try {
      expect(server.said(await http.get('/missing'))).toBe(' ("There is no employee with id 7.")');
      expect(server.said(await http.get('/plain'))).toBe('');
    } finally {
      await http.close();
    }
  });

  it('reports each entry once: a second 5xx names what was logged since the first', async () => {
    const server = captureServerLog();
    let n = 0;
    const http = await serve((_req, res) => {
      server.log(`failure ${++n}`);
      res.statusCode = 500;
      res.end();
    });
    try {
      expect(server.said(await http.get('/'))).toBe(' (the server logged: failure 1)');
      expect(server.said(await http.get('/'))).toBe(' (the server logged: failure 2)');
    } finally {
      await http.close();
    }
  });

  it('failOn5xx: a 5xx fails the test at once, saying what the server logged; other answers pass through', async () => {
    const server = captureServerLog();
    const http = await serve((req, res) => {
      if (req.url === '/gone') {
        res.statusCode = 404;
        return void res.end();
      }
      server.log(new RangeError('Invalid time value'));
      res.statusCode = 500;
      res.end();
    });
    try {
      const checked = server.failOn5xx(http);
      expect((await checked.get('/gone')).status).toBe(404);
      await expect(checked.request('/boom', { method: 'PATCH' })).rejects.toThrow(
        /^PATCH \/boom answered 500 \(the server logged: RangeError: Invalid time value( at \S+)?\)/,
      );
      expect(checked.url).toBe(http.url);
    } finally {
      await http.close();
    }
  });

  it("names the first line of the learner's code in the stack, not the workshop's or a dependency's", () => {
    const err = new TypeError('x is not a function');
    err.stack = [
      'TypeError: x is not a function',
      '    at get (/work/main/node_modules/lru-cache/dist/esm/index.js:1:1)',
      '    at time (/work/main/lessons/01-uncached/src/server-timing.ts:40:9)',
      '    at async file:///work/main/exercises/04-two-level-cache/src/two-level-cache.ts:87:31',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:105:5)',
    ].join('\n');
    expect(describeLogged(err)).toBe('TypeError: x is not a function at src/two-level-cache.ts:87:31');
    expect(describeLogged(new Error('plain'))).toMatch(/^plain( at \S+)?$/);
  });
});
