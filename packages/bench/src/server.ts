import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerStats } from './strategy.ts';

const SERVER_PROCESS = fileURLToPath(new URL('./server-process.ts', import.meta.url));

export interface StrategyServer {
  readonly name: string;
  readonly label: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  /** Counters since the last reset (queries, event-loop delay, CPU, …); the samplers stop until the next reset. */
  stats(): Promise<ServerStats>;
  /** Zero the counters and start the samplers: call it just before the load you want to measure. */
  reset(): Promise<void>;
  /** Stop the server, close its clients, remove its Redis keys, end the process. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Absolute path of a module that exports `strategies: Strategy[]`. */
  module: string;
  /** Which strategy to serve. */
  strategy: string;
  /** Most PostgreSQL connections of this server's pool. Default 10 (the workshop's default). */
  poolMax?: number;
  /** Settings passed to the strategy's create() (see StrategyContext.settings). */
  settings?: Record<string, string>;
  /** Extra `node` flags, e.g. ['--cpu-prof', '--cpu-prof-dir=…'] to profile the server. */
  execArgv?: string[];
  /** How long starting may take, ms. Default 20,000. */
  timeoutMs?: number;
}

/** Fork a server process for one strategy (see server-process.ts) and wait until it listens. */
export async function startServer(options: StartOptions): Promise<StrategyServer> {
  const child: ChildProcess = fork(
    SERVER_PROCESS,
    [
      ...['--module', options.module, '--strategy', options.strategy, '--pool-max', String(options.poolMax ?? 10)],
      ...Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ],
    {
      execArgv: ['--import', import.meta.resolve('tsx'), ...(options.execArgv ?? [])],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const ready = await new Promise<{ port: number; label: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`The ${options.strategy} server did not start within ${options.timeoutMs ?? 20_000} ms.`));
    }, options.timeoutMs ?? 20_000);
    child.once('message', (m: { ready: boolean; port: number; label: string }) => {
      clearTimeout(timer);
      resolve(m);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`The ${options.strategy} server exited (${code}) before listening.`));
    });
  });

  let nextId = 0;
  const pending = new Map<number, (value: unknown) => void>();
  child.on('message', (m: { id?: number; value?: unknown }) => {
    if (m.id === undefined) return;
    pending.get(m.id)?.(m.value);
    pending.delete(m.id);
  });
  const ask = <T>(type: string, timeoutMs = 10_000) =>
    new Promise<T>((resolve, reject) => {
      if (!child.connected) return reject(new Error(`The ${options.strategy} server is gone.`));
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`The ${options.strategy} server did not answer "${type}".`));
      }, timeoutMs);
      pending.set(id, (value) => {
        clearTimeout(timer);
        resolve(value as T);
      });
      child.send({ id, type });
    });

  return {
    name: options.strategy,
    label: ready.label,
    url: `http://127.0.0.1:${ready.port}`,
    pid: child.pid ?? 0,
    stats: () => ask<ServerStats>('stats'),
    reset: () => ask<boolean>('reset').then(() => {}),
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      await ask('close', 15_000).catch(() => child.kill('SIGKILL'));
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
