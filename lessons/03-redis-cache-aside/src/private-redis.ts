import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * A redis-server of its own, on a free port of 127.0.0.1, for experiments that change how
 * Redis behaves or make it fail: `maxmemory` and `maxmemory-policy` (step 3,
 * measure-maxmemory.ts and test/maxmemory.test.ts), a crash, a restart and a frozen server
 * (step 2's tests, through test/redis-server.ts). Never `CONFIG SET` on the shared Redis at
 * 6379, and never stop it: every other test file, the bench and the learner's own servers use
 * it, and a policy set there stays until someone sets it back.
 *
 * No persistence (`--save ''`, no AOF), so the server starts empty, a restart brings back an
 * empty Redis, and nothing is left behind. `redis-server` must be on PATH (it is wherever
 * `cachelab services` can run Redis).
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** Stop the server (SIGTERM) and wait until it has exited. Does nothing if it is not running. */
  stop(): Promise<void>;
  /** Start it again, on the same port with the same config (empty: no persistence); resolves when it answers PING. */
  start(): Promise<void>;
  /** Kill the server (SIGKILL: like a crash) and wait until it is gone. Does nothing if it is not running. */
  kill(): Promise<void>;
  /** Freeze the server (SIGSTOP): connections stay open, nothing is answered — a "slow" Redis. */
  pause(): void;
  /** Unfreeze it (SIGCONT). */
  resume(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** How long a starting server has to answer PING. */
const START_TIMEOUT_MS = 10_000;

/** Start one; `config` is redis.conf directives as arguments: `{ maxmemory: '2mb', 'maxmemory-policy': 'allkeys-lru' }`. */
export async function startPrivateRedis(config: Record<string, string> = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--loglevel', 'warning');
  for (const [name, value] of Object.entries(config)) args.push(`--${name}`, value);
  const url = `redis://127.0.0.1:${port}`;

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const running = (c: ChildProcess | undefined): c is ChildProcess =>
    c !== undefined && c.exitCode === null && c.signalCode === null;

  /** Signal the running server (if any) and wait until it has exited. */
  async function end(signal: NodeJS.Signals): Promise<void> {
    const c = child;
    const gone = exited;
    child = undefined;
    if (!running(c)) return;
    c.kill('SIGCONT'); // a paused server would not act on SIGTERM until resumed
    c.kill(signal);
    await gone;
  }

  async function start(): Promise<void> {
    if (running(child)) throw new Error(`redis-server on port ${port} is already running`);
    const c = spawn('redis-server', args, { stdio: 'ignore' });
    child = c;
    // A failed spawn (no redis-server on PATH) emits 'error' and no 'exit'.
    exited = new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.once('error', () => resolve());
    });
    const failed = new Promise<never>((_, reject) => {
      c.once('error', (err) => reject(new Error(`could not start redis-server (is it on PATH?): ${err.message}`)));
      void exited.then(() => reject(new Error(`redis-server ${args.join(' ')} exited at start`)));
    });
    failed.catch(() => {}); // raced below; once the server is up, a later exit is stop()'s or kill()'s business
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const pong = await Promise.race([probe.connect().then(() => probe.ping()), failed]).catch((err: Error) => err);
      probe.disconnect();
      if (pong === 'PONG') return;
      if (pong instanceof Error && /could not start|exited at start/.test(pong.message)) throw pong;
      if (Date.now() > deadline) {
        await end('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS / 1000} s`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  await start();
  return {
    port,
    url,
    start,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    pause() {
      if (running(child)) child.kill('SIGSTOP');
    },
    resume() {
      if (running(child)) child.kill('SIGCONT');
    },
  };
}
