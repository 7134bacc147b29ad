import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '@cachelab/testkit';

/**
 * A redis-server of the test's own, on a free port, that the test may kill, restart and
 * pause. Tests that make Redis fail use this one: the shared Redis on 6379 serves every
 * other test file in parallel and is never stopped.
 */

/** True when `redis-server` is on PATH (it is wherever `cachelab services` can run Redis). */
export const hasRedisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;

export { freePort } from '@cachelab/testkit';

/** Resolves when something on `port` answers PING with PONG, rejects after `timeoutMs`. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.setTimeout(200);
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith('+PONG'));
      });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
}

export interface OwnRedis {
  port: number;
  url: string;
  /** Start (or restart) the server on the same port; resolves when it answers PING. */
  start(): Promise<void>;
  /** Kill the server (SIGKILL: like a crash) and wait until it is gone. */
  kill(): Promise<void>;
  /** Freeze the server (SIGSTOP): connections stay open, nothing is answered — a "slow" Redis. */
  pause(): void;
  /** Unfreeze it (SIGCONT). */
  resume(): void;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'],
        { stdio: 'ignore' },
      );
      await waitForPong(port, 5_000);
    },
    async kill() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      c.kill('SIGCONT');
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
  await own.start();
  return own;
}
