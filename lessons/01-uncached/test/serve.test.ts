import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.ts';
import { bannerName, serveLesson } from '../src/serve.ts';

/**
 * How a lesson's main.ts starts when its port is taken, as it is whenever a learner leaves
 * one instance running in another terminal. serveLesson exits the process then, so
 * `process.exit` is replaced by a throw that the test can see.
 */
afterEach(() => {
  vi.restoreAllMocks();
});

function occupy(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

describe('serveLesson on a port that is already in use', () => {
  it('says so in one line naming the next port, closes what it opened, and exits 1', async () => {
    const busy = await occupy();
    const port = (busy.address() as { port: number }).port;
    const printed: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((line: unknown) => void printed.push(String(line)));
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void printed.push(String(line)));
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`process.exit(${code})`);
    });
    const close = vi.fn();
    try {
      await expect(
        serveLesson({ lesson: '01-uncached', port, createApp: ({ db }) => createApp({ db }), close }),
      ).rejects.toThrow('process.exit(1)');
    } finally {
      busy.close();
    }
    expect(exit).toHaveBeenCalledTimes(1);
    expect(printed).toEqual([
      `✗ Port ${port} is already in use. Pick another: --port ${port + 1} (or PORT=${port + 1}).`,
    ]);
    expect(close, "the lesson's own clients (Redis, the bus) are closed too").toHaveBeenCalledTimes(1);
  });
});

describe("serveLesson's banner", () => {
  it.each([
    ['a cached lesson (the default)', undefined, "| grep -iE '^(HTTP|server-timing|x-cache)'"],
    ['lesson 01, which sends no X-Cache', ['server-timing'], "| grep -iE '^(HTTP|server-timing)'"],
  ])('suggests a curl that shows the headers of %s', async (_who, headers, grep) => {
    const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
    const exited = new Promise<number>((resolve) => {
      vi.spyOn(process, 'exit').mockImplementation(((code: number) => resolve(code)) as never);
    });
    const printed: string[] = [];
    vi.spyOn(console, 'log').mockImplementation((line: unknown) => void printed.push(String(line)));
    try {
      await serveLesson({
        lesson: '01-uncached',
        port: 0,
        createApp: ({ db }) => createApp({ db }),
        ...(headers ? { headers } : {}),
      });
      process.emit('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      for (const signal of ['SIGINT', 'SIGTERM'] as const)
        for (const listener of process.listeners(signal)) if (!before.has(listener)) process.off(signal, listener);
    }
    const banner = printed.find((line) => line.startsWith('Try: curl'));
    expect(banner).toBeDefined();
    expect(banner?.endsWith(grep), banner).toBe(true);
  });
});

describe("serveLesson's banner names what it serves", () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  it.each([
    ['a lesson', 'lessons/02-in-memory-lru/src/main.ts', '02-in-memory-lru', 'Lesson 02-in-memory-lru'],
    [
      "an exercise, from its folder and package.json, not the main.ts's string",
      'exercises/08-build-a-store/src/main.ts',
      '06 exercise: build-a-store',
      'Exercise 08 — Build a cache store on PostgreSQL that passes the conformance suite',
    ],
    [
      'a solution, as its exercise',
      'solutions/15-find-the-bottleneck/src/main.ts',
      '15 exercise: find-the-bottleneck',
      'Exercise 15 — Find the bottleneck: a cache that is right but slow',
    ],
  ])('%s', (_what, entry, lesson, name) => {
    expect(bannerName(lesson, join(root, entry))).toBe(name);
  });

  it('names an exercise copied outside the repository by its slug', () => {
    expect(bannerName('x', '/tmp/copy/exercises/03-redis-cache-aside/src/main.ts')).toBe(
      'Exercise 03 — redis-cache-aside',
    );
  });
});
