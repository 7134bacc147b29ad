import type { Server } from 'node:http';
import { connect } from 'node:net';
import { type HttpHarness, serve, type TestResponse, useServices } from '@cachelab/testkit';
import express from 'express';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createApp } from '../src/app.ts';
import { jsonBody } from '../src/json-body.ts';
import { errorHandler, notFoundHandler } from '../src/problem.ts';
import { serveLesson } from '../src/serve.ts';
import { parse } from '../src/validation.ts';

/**
 * The edges of HTTP every lesson's app shares through lesson 01's pieces: OPTIONS and wrong
 * methods (the 404 handler), bodies in the wrong media type (jsonBody), repeated and
 * malformed parameters (parse, the error handler), lone surrogates in JSON (parse), and
 * requests node's parser refuses before Express sees them (serveLesson's clientError).
 */
const services = useServices();
let http: HttpHarness;

beforeAll(async () => {
  http = await serve(createApp({ db: services.db, log: () => {} }));
});
afterAll(() => http.close());
beforeEach(() => services.queries.reset());

function expectProblem(res: TestResponse, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const body = res.json<{ type: string; title: string; status: number; detail: string; errors?: Issue[] }>();
  expect(body.status).toBe(status);
  expect(body.detail.length).toBeGreaterThan(0);
  return body;
}
type Issue = { parameter: string; message: string };

/** A small app with one write of each kind, built from lesson 01's pieces as lessons 04–10 build theirs. */
async function writesApp() {
  const app = express();
  const body = z.object({ name: z.string() }).strict();
  for (const method of ['post', 'put', 'patch'] as const) {
    app[method]('/things/:id', jsonBody(), (req, res) => {
      res.json(parse(body, req.body, 'body'));
    });
  }
  app.get('/things/:id', (_req, res) => void res.json({}));
  app.use(notFoundHandler);
  app.use(errorHandler({ log: () => {} }));
  return serve(app);
}

describe('OPTIONS and methods a path does not answer', () => {
  it.each(['/employees/42', '/payments', '/investors/DEMO_INV/summary', '/'])(
    'answers OPTIONS %s with 204 and Allow',
    async (path) => {
      const res = await http.request(path, { method: 'OPTIONS' });
      expect(res.status).toBe(204);
      expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      expect(res.text).toBe('');
    },
  );

  it.each([
    ['POST', '/employees/42'],
    ['PUT', '/employees/42'],
    ['PATCH', '/payments'],
    ['DELETE', '/investors/DEMO_INV/summary'],
  ])('answers %s %s with 405 problem+json and Allow, before any query', async (method, path) => {
    const res = await http.request(path, { method });
    const body = expectProblem(res, 405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
    expect(body.type).toBe('urn:cachelab:problem:method-not-allowed');
    expect(body.detail).toContain('GET');
    expect(body.detail).toContain(method);
    expect(services.queries.count).toBe(0);
  });

  it('still answers 404 for a path no route has, whatever the method', async () => {
    expectProblem(await http.request('/nope', { method: 'OPTIONS' }), 404);
    expectProblem(await http.request('/nope', { method: 'POST' }), 404);
    expectProblem(await http.request('/employees/42/nope', { method: 'DELETE' }), 404);
  });

  it('lists every method of a path in Allow, and names the media type of its writes on OPTIONS', async () => {
    const writes = await writesApp();
    try {
      const options = await writes.request('/things/1', { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, OPTIONS');
      expect(options.headers.get('accept-patch')).toBe('application/json');
      expect(options.headers.get('accept-post')).toBe('application/json');
      const res = await writes.request('/things/1', { method: 'DELETE' });
      expectProblem(res, 405);
      expect(res.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, OPTIONS');
    } finally {
      await writes.close();
    }
  });

  it('works the same for an app mounted under a path (lesson 09 mounts each lesson)', async () => {
    const outer = express();
    outer.use('/01', createApp({ db: services.db, log: () => {} }));
    const mounted = await serve(outer);
    try {
      const options = await mounted.request('/01/employees/42', { method: 'OPTIONS' });
      expect(options.status).toBe(204);
      expect(options.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
      expectProblem(await mounted.request('/01/employees/42', { method: 'POST' }), 405);
    } finally {
      await mounted.close();
    }
  });
});

describe('a write whose body is not JSON', () => {
  let writes: HttpHarness;
  beforeAll(async () => {
    writes = await writesApp();
  });
  afterAll(() => writes.close());
  const json = '{"name":"Ada"}';

  it.each([
    ['PATCH', 'text/plain', 'accept-patch'],
    ['PATCH', undefined, 'accept-patch'],
    ['POST', 'application/x-www-form-urlencoded', 'accept-post'],
    ['PUT', 'text/plain', undefined],
  ])('answers %s with Content-Type %s with 415 naming application/json', async (method, type, header) => {
    const res = await writes.request('/things/1', {
      method,
      // fetch labels a string body text/plain unless told otherwise; a Blob without a type sends none.
      body: type ? json : new Blob([json]),
      ...(type ? { headers: { 'content-type': type } } : {}),
    });
    const body = expectProblem(res, 415);
    expect(body.type).toBe('urn:cachelab:problem:unsupported-media-type');
    expect(body.detail).toContain('application/json');
    expect(body.detail).not.toMatch(/required/);
    if (header) expect(res.headers.get(header)).toBe('application/json');
  });

  it('reads application/json, with or without a charset, and still says an empty body is missing', async () => {
    for (const type of ['application/json', 'application/json; charset=utf-8']) {
      const res = await writes.request('/things/1', { method: 'PATCH', headers: { 'content-type': type }, body: json });
      expect(res.status, type).toBe(200);
      expect(res.json()).toEqual({ name: 'Ada' });
    }
    const empty = expectProblem(await writes.request('/things/1', { method: 'PATCH' }), 400);
    expect(empty.detail).toMatch(/`body` is required/);
  });

  it.each([
    [
      'a name without quotes',
      '{name: "Ada"}',
      /is not valid JSON: the mistake is at position 1 \(counting from 0\), marked ▸ here: `\{▸name: "Ada"\}`/,
    ],
    ['a comma after the last item', '{"name": "Ada",}', /the mistake is at position 15 .*`\{"name": "Ada",▸\}`/],
    ['a body cut short', '{"name": ', /is not valid JSON: it ends at position 9 before the JSON is complete/],
    ['a bare word', 'Ada', /must be a JSON object, like \{"name": "Ada"\}; it starts with `Ada`/],
  ])('answers %s with a 400 that says where the JSON breaks, in our words', async (_what, text, detail) => {
    const res = await writes.request('/things/1', {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: text,
    });
    const body = expectProblem(res, 400);
    expect(body.type).toBe('urn:cachelab:problem:bad-body');
    expect(body.detail).toMatch(/^The body of PATCH \/things\/1 /);
    expect(body.detail).toMatch(detail);
    expect(body.detail, "V8's own message").not.toMatch(/Expected|Unexpected|in JSON at/);
  });

  it('answers a body over the limit with 413 saying both sizes', async () => {
    const res = await writes.request('/things/1', {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a'.repeat(20_000) }),
    });
    const body = expectProblem(res, 413);
    expect(body.type).toBe('urn:cachelab:problem:body-too-large');
    expect(body.detail).toBe('The body of PUT /things/1 is 20,011 bytes; this route reads at most 10,240 bytes.');
  });
});

describe('parameters', () => {
  it('says a query parameter given twice was given more than once', async () => {
    const res = await http.get('/payments?investor=DEMO_INV&from=2024-01-01&to=2025-01-01&limit=1&limit=2');
    const body = expectProblem(res, 400);
    expect(body.errors).toEqual([{ parameter: 'limit', message: expect.stringMatching(/more than once/) }]);
    expect(body.detail).not.toMatch(/required/);
    expect(services.queries.count).toBe(0);
  });

  it.each(['/employees/%zz', '/investors/%E0%A4%A/summary', '/employees/%ff'])(
    'answers a malformed percent-escape in the path (%s) with a 400 saying the URL is malformed',
    async (path) => {
      const body = expectProblem(await http.get(path), 400);
      expect(body.type).toBe('urn:cachelab:problem:malformed-url');
      expect(body.title).toMatch(/URL/);
      expect(body.detail).toMatch(/path of the URL is malformed/);
      expect(body.detail).not.toMatch(/body/i);
      expect(services.queries.count).toBe(0);
    },
  );
});

describe('text that is not valid Unicode', () => {
  const schema = z.object({ name: z.string(), tags: z.array(z.string()).optional() }).strict();

  it.each([
    ['a lone high surrogate', '{"name":"Ada \\ud800"}', 'name', 'U+D800'],
    ['a lone low surrogate', '{"name":"\\udc00x"}', 'name', 'U+DC00'],
    ['a reversed pair', '{"name":"\\udc00\\ud800"}', 'name', 'U+DC00'],
    ['a lone surrogate in a list', '{"name":"Ada","tags":["ok","\\ud801"]}', 'tags.1', 'U+D801'],
  ])('rejects %s with a 400 naming the field', (_what, text, parameter, unit) => {
    let thrown: unknown;
    try {
      parse(schema, JSON.parse(text), 'body');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ status: 400, errors: [{ parameter, message: expect.stringContaining(unit) }] });
    expect((thrown as Error).message).toContain(`\`${parameter}\``);
  });

  it('accepts a proper surrogate pair (an emoji) and reports other problems of the same input too', () => {
    expect(parse(schema, JSON.parse('{"name":"Ada \\ud83d\\ude00"}'), 'body')).toEqual({ name: 'Ada 😀' });
    expect(() => parse(schema, JSON.parse('{"name":"\\ud800","extra":1}'), 'body')).toThrow(
      /`name` is not valid Unicode.*`extra` is not a parameter/,
    );
  });
});

describe('requests the HTTP parser refuses (serveLesson)', () => {
  let server: Server;
  let port: number;
  const signals = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  const outputs = { stdout: process.stdout.listeners('error'), stderr: process.stderr.listeners('error') };

  beforeAll(async () => {
    vi.spyOn(console, 'log').mockImplementation(() => {});
    server = await serveLesson({ lesson: '01-uncached', port: 0, createApp: ({ db }) => createApp({ db }) });
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    // serveLesson's Ctrl-C and closed-output handlers would exit this test process: remove
    // only the ones it added.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const listener of process.listeners(signal)) {
        if (!signals[signal].includes(listener)) process.removeListener(signal, listener);
      }
    }
    for (const name of ['stdout', 'stderr'] as const) {
      for (const listener of process[name].listeners('error')) {
        if (!outputs[name].includes(listener)) process[name].removeListener('error', listener as () => void);
      }
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Send raw bytes, read until the server closes the connection. */
  function raw(bytes: Buffer): Promise<{ head: string; body: string; closed: boolean }> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const [head = '', body = ''] = text.split('\r\n\r\n');
        resolve({ head, body, closed: true });
      });
    });
  }

  it('answers raw non-ASCII bytes in the URL with a 400 problem+json and closes the connection', async () => {
    const request = Buffer.concat([
      Buffer.from('GET /employees/'),
      Buffer.from([0xc3, 0xa9]), // é, not percent-encoded
      Buffer.from(' HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
    ]);
    const { head, body, closed } = await raw(request);
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(head).toMatch(/\r\nconnection: close/i);
    expect(JSON.parse(body)).toMatchObject({ status: 400, detail: expect.stringMatching(/URL.*%C3%A9/) });
    expect(closed).toBe(true);
  });

  it('answers 17 KB of headers with a 431 problem+json', async () => {
    const request = `GET /employees/42 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`;
    const { head, body } = await raw(Buffer.from(request));
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i);
    expect(JSON.parse(body)).toMatchObject({ status: 431, title: expect.stringMatching(/too large/) });
  });

  it('still answers a well-formed request on the same server', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/employees/42`);
    expect(res.status).toBe(200);
  });
});
