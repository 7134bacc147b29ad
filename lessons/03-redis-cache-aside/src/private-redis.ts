import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/**
 * A redis-server of its own, on a free port of 127.0.0.1, for experiments that change how
 * Redis behaves: `maxmemory`, `maxmemory-policy` (step 3, measure-maxmemory.ts and its test).
 * Never `CONFIG SET` on the shared Redis at 6379: every other test file, the bench and the
 * learner's own servers use it, and a policy set there stays until someone sets it back.
 *
 * No persistence (`--save ''`, no AOF), so the server starts empty and leaves nothing behind.
 * `redis-server` must be on PATH (it is wherever `cachelab services` can run Redis).
 */
export interface PrivateRedis {
  port: number;
  url: string;
  /** Stop the server and wait until it has exited. */
  stop(): Promise<void>;
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

/** Start one; `config` is redis.conf directives as arguments: `{ maxmemory: '2mb', 'maxmemory-policy': 'allkeys-lru' }`. */
export async function startPrivateRedis(config: Record<string, string> = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  args.push('--loglevel', 'warning');
  for (const [name, value] of Object.entries(config)) args.push(`--${name}`, value);
  const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) => reject(new Error(`could not start redis-server (is it on PATH?): ${err.message}`)));
    void exited.then(() => reject(new Error(`redis-server ${args.join(' ')} exited at start`)));
  });
  failed.catch(() => {}); // raced below; once the server is up, a later exit is stop()'s business
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    const pong = await Promise.race([probe.connect().then(() => probe.ping()), failed]).catch((err: Error) => err);
    probe.disconnect();
    if (pong === 'PONG') break;
    if (pong instanceof Error && /could not start|exited at start/.test(pong.message)) throw pong;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    url,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
