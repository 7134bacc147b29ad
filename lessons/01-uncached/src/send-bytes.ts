import type { ServerResponse } from 'node:http';

/** What Express's `res.type('application/json')` sets, and what every lesson's JSON carries. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Send JSON that is already bytes (a cache entry) as a 200, with `headers` (name, value,
 * name, value, …) besides Content-Type and Content-Length: the cache hit's whole answer.
 *
 * One `writeHead` with a flat list instead of a `setHeader` per header, and no Express
 * helper (`res.set`, `res.type`, `res.send`): `setHeader` lowercases and validates each name
 * and files it in an object that `writeHead` then walks again, and `send` looks up the mime
 * type, parses the charset and checks freshness. On a cache hit those are a few of the ~100
 * µs a request costs here, and `npm run bench` counts every one of them (lesson 09 shows it).
 * Headers set earlier with `setHeader` are kept (node then merges the list into them one by
 * one, and the saving is gone: a hit path sets none before). node leaves the body out of a
 * HEAD by itself. `res.getHeader` does not see headers passed this way (serve.ts's request
 * log reads them from the call).
 */
export function sendJsonBytes(res: ServerResponse, body: Buffer, headers: readonly string[]): void {
  res.writeHead(200, ['Content-Type', JSON_CONTENT_TYPE, 'Content-Length', String(body.length), ...headers]);
  res.end(body);
}
