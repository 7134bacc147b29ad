import { request } from 'node:http';

export interface TimedResponse {
  status: number;
  /** Request sent → last byte of the body received, ms. */
  ms: number;
  /** Body bytes received. */
  bytes: number;
  /** The `X-Cache` header, or undefined. */
  cache: string | undefined;
  /** The `Server-Timing` header as sent. */
  serverTiming: string;
}

/**
 * One GET, timed end to end by the client: from sending the request to the last byte of the
 * body, which is what a user waits for (for 17.8 MB, the transfer is much of it). The body
 * is counted and dropped, not kept. A fresh connection per request (agent: false).
 */
export function timedGet(url: string, headers: Record<string, string> = {}): Promise<TimedResponse> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent: false, headers }, (res) => {
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          ms: performance.now() - started,
          bytes,
          cache: res.headers['x-cache'] as string | undefined,
          serverTiming: String(res.headers['server-timing'] ?? ''),
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`GET ${url} took more than 60 s.`)));
    req.on('error', reject);
    req.end();
  });
}
