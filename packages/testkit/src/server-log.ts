import { expect } from 'vitest';
import type { HttpHarness, TestResponse } from './http.ts';

/**
 * What an app logged while a test ran, so that a failing assertion can say it. A 500 answers
 * only "Something went wrong on our side; the server log has the details": the learner's
 * TypeError is in the log, and with `log: () => {}` it is nowhere. Pass `log` to `createApp`
 * and end every message about a status with `said(res)`:
 *
 * ```ts
 * const server = captureServerLog();
 * const app = createApp({ db: services.db, log: server.log });
 * beforeEach(() => server.clear());
 * expect(res.status, `GET ${path} answered ${res.status}${server.said(res)}`).toBe(200);
 * // → "GET /employees/1 answered 500 (the server logged: TypeError: Cannot read properties
 * //    of undefined (reading 'body') at src/two-level-cache.ts:87:31)"
 * ```
 *
 * One log for any number of apps (instances of one test) is fine: `said` reports what was
 * logged since the last report, most recent last.
 */
export interface ServerLog {
  /** Pass as createApp's `log`: keeps everything, prints nothing. */
  readonly log: (err: unknown) => void;
  /** Everything logged since the last `clear()`, oldest first. */
  readonly entries: readonly unknown[];
  /** Forget what was logged (call it in `beforeEach`). */
  clear(): void;
  /**
   * For a 5xx: ` (the server logged: …)` with the last entry logged since the previous report
   * (the error handler logs a 500's cause just before it answers), its error class and the
   * first line of the app's own code in its stack; without one, ` (the server answered: "…")`
   * with the problem's detail. For another problem+json (a 400, a 404): ` ("…")`, its detail.
   * Otherwise ''.
   */
  said(res: TestResponse): string;
  /**
   * `http`, with every answer checked: a 5xx fails the test at once with what the server logged
   * (`GET /employees/3 answered 500 (the server logged: …)`), before a check of its headers or
   * body can blame something else ("no ETag header"). For tests in which no request may fail.
   */
  failOn5xx(http: HttpHarness): HttpHarness;
}

export function captureServerLog(): ServerLog {
  const entries: unknown[] = [];
  let reported = 0;
  const log: ServerLog = {
    log: (err) => {
      entries.push(err);
    },
    get entries() {
      return entries;
    },
    clear() {
      entries.length = 0;
      reported = 0;
    },
    said(res) {
      const detail = problemDetail(res);
      if (res.status < 500) return detail ? ` ("${oneLine(detail, 200)}")` : '';
      const fresh = entries.slice(reported);
      reported = entries.length;
      const last = fresh.at(-1);
      if (last !== undefined) return ` (the server logged: ${describeLogged(last)})`;
      return detail ? ` (the server answered: "${oneLine(detail, 200)}")` : '';
    },
    failOn5xx(http) {
      const checked = async (method: string, path: string, pending: Promise<TestResponse>) => {
        const res = await pending;
        expect(res.status, `${method} ${path} answered ${res.status}${log.said(res)}`).toBeLessThan(500);
        return res;
      };
      return {
        ...http,
        request: (path, init) => checked(init?.method ?? 'GET', path, http.request(path, init)),
        get: (path, headers) => checked('GET', path, http.get(path, headers)),
      };
    },
  };
  return log;
}

/** `TypeError: Cannot read … at src/app.ts:42:11`: the class (when not plain Error), the message, where. */
export function describeLogged(logged: unknown): string {
  if (!(logged instanceof Error)) return oneLine(String(logged), 200);
  const name = logged.name && logged.name !== 'Error' ? `${logged.name}: ` : '';
  const where = ownFrame(logged.stack);
  return `${oneLine(`${name}${logged.message}`, 200)}${where ? ` at ${where}` : ''}`;
}

/**
 * The first frame of the stack in the code under test: not node's, not a dependency's, not a
 * lesson's or a package's (those are the workshop's), shown from its `src/` on.
 */
function ownFrame(stack: string | undefined): string | undefined {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    const location = /\(?((?:file:\/\/)?\/[^()\s]+:\d+:\d+)\)?\s*$/.exec(line.trim())?.[1];
    if (!location || /node_modules|\/lessons\/|\/packages\/|node:/.test(location)) continue;
    const src = location.lastIndexOf('/src/');
    return src >= 0 ? location.slice(src + 1) : location.replace(/^file:\/\//, '');
  }
  return undefined;
}

function problemDetail(res: TestResponse): string | undefined {
  if (!/problem\+json/.test(res.headers.get('content-type') ?? '')) return undefined;
  try {
    const detail = res.json<{ detail?: unknown }>().detail;
    return typeof detail === 'string' && detail.length > 0 ? detail : undefined;
  } catch {
    return undefined;
  }
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};
