import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Anything `http.createServer` accepts: an Express app is one. */
export type RequestListener = (
  req: import('node:http').IncomingMessage,
  res: import('node:http').ServerResponse,
) => void;

export interface TestResponse {
  status: number;
  headers: Headers;
  /** The body as text ('' for 204/304). */
  text: string;
  /** The body parsed as JSON (throws a readable error when it is not JSON). */
  json<T = unknown>(): T;
  /** `X-Cache`, upper-cased, or undefined. */
  cache: string | undefined;
  /** Server-Timing metrics by name, durations in ms: `db;dur=12.3` → { db: 12.3 }. */
  timing: Record<string, number>;
}

export interface HttpHarness {
  /** `http://127.0.0.1:<port>` */
  url: string;
  server: Server;
  request(path: string, init?: RequestInit): Promise<TestResponse>;
  get(path: string, headers?: Record<string, string>): Promise<TestResponse>;
  close(): Promise<void>;
}

/** Parse a Server-Timing header into name → duration (ms). Metrics without dur count as 0. */
export function parseServerTiming(header: string | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!header) return out;
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    out[name.trim()] = dur ? Number(dur.slice(4)) : 0;
  }
  return out;
}

/** undici says only "fetch failed"; what failed is in its cause (ECONNRESET, a timeout, …). */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (!cause) return String(error);
  return [cause.code, cause.message].filter(Boolean).join(' ') || String(cause);
}

/**
 * Listen on a free port on 127.0.0.1 and talk to the app over real HTTP, as a client would:
 * the headers a test sees are the ones a browser would.
 */
export async function serve(app: RequestListener): Promise<HttpHarness> {
  const { createServer } = await import('node:http');
  const server = createServer(app);
  // Tests send up to 1,000 requests at once (exercise 10, lesson 08): a backlog above the
  // default 511 lets the kernel queue every connection instead of dropping SYNs for a second.
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const request = async (path: string, init?: RequestInit): Promise<TestResponse> => {
    const res = await fetch(url + path, init).catch((error: unknown) => {
      throw new Error(`${init?.method ?? 'GET'} ${path} got no response: ${describeFetchError(error)}`, {
        cause: error,
      });
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      json<T>() {
        try {
          return JSON.parse(text) as T;
        } catch {
          throw new Error(
            `${init?.method ?? 'GET'} ${path} did not return JSON (status ${res.status}): ${text.slice(0, 200)}`,
          );
        }
      },
      cache: res.headers.get('x-cache')?.toUpperCase(),
      timing: parseServerTiming(res.headers.get('server-timing')),
    };
  };
  return {
    url,
    server,
    request,
    get: (path, headers) => request(path, { headers }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
