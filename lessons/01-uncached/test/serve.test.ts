import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.ts';
import { serveLesson } from '../src/serve.ts';

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
