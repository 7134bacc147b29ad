import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';

const run = promisify(execFile);

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

/** Which client timed a request: curl (a C client that adds next to nothing) or node's own http. */
export type TimingClient = 'curl' | 'node';

/** curl's version line when curl is on the PATH, else undefined (then the bench times with node). */
export async function curlVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await run('curl', ['--version']);
    return stdout.split('\n')[0]?.split(' ').slice(0, 2).join(' ');
  } catch {
    return undefined;
  }
}

const MARK = 'cachelab-timing';

/**
 * One GET timed by curl: `time_total` is curl's own measure from the start of the request to
 * the last byte, with a fresh connection, the body written to /dev/null. Why curl: receiving
 * 17.8 MB costs node's http client itself some 10 ms of JavaScript (chunk events, buffers),
 * about as much as the transfer; curl receives the same bytes in a few ms, so what is left is
 * the server and the wire — what the bench is meant to measure.
 */
async function curlGet(url: string, headers: Record<string, string>): Promise<TimedResponse> {
  const args = ['--silent', '--show-error', '--output', '/dev/null', '--dump-header', '-'];
  for (const [name, value] of Object.entries(headers)) args.push('--header', `${name}: ${value}`);
  args.push('--write-out', `\n${MARK} %{http_code} %{size_download} %{time_total}`, url);
  const { stdout } = await run('curl', args, { maxBuffer: 1024 * 1024 });
  const at = stdout.lastIndexOf(MARK);
  const [status, bytes, seconds] = stdout
    .slice(at + MARK.length)
    .trim()
    .split(' ')
    .map(Number);
  const header = (name: string) =>
    stdout
      .slice(0, at)
      .split(/\r?\n/)
      .find((line) => line.toLowerCase().startsWith(`${name}:`))
      ?.slice(name.length + 1)
      .trim();
  return {
    status: status ?? 0,
    ms: (seconds ?? Number.NaN) * 1000,
    bytes: bytes ?? 0,
    cache: header('x-cache'),
    serverTiming: header('server-timing') ?? '',
  };
}

/**
 * One GET, timed end to end by the client: from sending the request to the last byte of the
 * body, which is what a user waits for (for 17.8 MB, the transfer is much of it). The body
 * is counted and dropped, not kept. A fresh connection per request (agent: false).
 * `client: 'curl'` hands the request to curl (see curlGet).
 */
export function timedGet(
  url: string,
  headers: Record<string, string> = {},
  client: TimingClient = 'node',
): Promise<TimedResponse> {
  if (client === 'curl') return curlGet(url, headers);
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
