import { createConnection, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy a test puts between a client and a real server (Redis, PostgreSQL) to make
 * the network misbehave on cue, like toxiproxy but in-process and with no daemon:
 *
 * - `cut()`        "Redis is down": every open connection is dropped, and every new one is
 *                  closed as soon as it is accepted (the client sees the connection end,
 *                  as after a crash or a restart of the server).
 * - `delay(ms)`    "Redis is slow": every chunk, in both directions, is delivered `ms` later
 *                  than it arrived. Order is kept.
 * - `blackhole()`  "Redis is unreachable": connections are accepted (and stay open) but
 *                  nothing comes back, like a host behind a firewall that drops packets or a
 *                  frozen server. Bytes are HELD, not thrown away: TCP retransmits what a
 *                  black hole swallows, so when the network heals, everything sent meanwhile
 *                  arrives late and in order. (Dropping bytes would desynchronise request
 *                  and reply on a pipelined protocol: no real network does that.)
 * - `restore()`    back to a plain pass-through; held bytes are delivered.
 *
 * The proxy counts what the client tried to send (`stats.bytesFromClients`), so a test can
 * assert that requests stopped touching the server at all (a circuit breaker that opened),
 * without measuring time.
 *
 * Nothing is faked: while the proxy passes, the bytes go to the real server.
 */
export type ChaosMode = 'pass' | 'cut' | 'blackhole';

export interface ChaosStats {
  /** Connections accepted since start (refused ones included). */
  connections: number;
  /** Connections closed at once because the proxy was cut. */
  refused: number;
  /** Connections open now. */
  open: number;
  /** Bytes clients sent towards the server (held ones included): "did anyone even try?". */
  bytesFromClients: number;
  /** Bytes the server sent back that reached the clients. */
  bytesToClients: number;
}

export interface ChaosProxy {
  /** Where clients connect: always 127.0.0.1. */
  readonly host: string;
  readonly port: number;
  /** The upstream URL with host and port replaced by the proxy's (e.g. `redis://127.0.0.1:41234`). */
  readonly url: string;
  readonly mode: ChaosMode;
  /** Latency added to every chunk now, in ms (0 when none). */
  readonly delayMs: number;
  /** A snapshot of the counters. */
  readonly stats: ChaosStats;
  /** Drop every connection and refuse new ones. */
  cut(): void;
  /** Hold every byte in both directions; connections stay open. */
  blackhole(): void;
  /** Pass through, `ms` late in each direction. `delay(0)` is `restore()`. */
  delay(ms: number): void;
  /** Pass everything through, at once. Held bytes are delivered. */
  restore(): void;
  /** Close every connection and stop listening. */
  close(): Promise<void>;
}

export interface ChaosProxyOptions {
  /** The real server: `redis://host:port`, `postgres://…`, or `{ host, port }`. */
  upstream: string | { host: string; port: number };
  /** Port to listen on. Default 0: the OS picks a free one. */
  port?: number;
}

/** What a held lane takes in before it stops reading: a common TCP receive window, 64 KiB. */
const HELD_WINDOW_BYTES = 64 * 1024;

interface Pending {
  chunk: Buffer;
  dueAtMs: number;
}

interface LaneControl {
  mode(): ChaosMode;
  delayMs(): number;
  /** Called with the size of each chunk delivered. */
  delivered(bytes: number): void;
}

/** One direction of one connection: a FIFO that the mode releases, delays or holds. */
class Lane {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #queue: Pending[] = [];
  /** Bytes in #queue. */
  #queued = 0;
  readonly #proxy: LaneControl;
  #timer: NodeJS.Timeout | undefined;

  constructor(from: Socket, to: Socket, proxy: LaneControl) {
    this.#from = from;
    this.#to = to;
    this.#proxy = proxy;
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ chunk, dueAtMs: Date.now() + this.#proxy.delayMs() });
      this.#queued += chunk.length;
      this.pump();
    });
  }

  /** Deliver what is due, unless the proxy holds everything; re-arm for the next chunk. */
  pump(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#proxy.mode() === 'blackhole') {
      // Backpressure, like a real stalled TCP window: a peer's window takes what fits in it
      // (so every command a client sends while held is counted in `bytesFromClients`), then
      // reading stops instead of buffering forever.
      if (this.#queued >= HELD_WINDOW_BYTES) this.#from.pause();
      return;
    }
    this.#from.resume();
    const now = Date.now();
    while (this.#queue.length > 0) {
      const next = this.#queue[0] as Pending;
      if (next.dueAtMs > now) {
        this.#timer = setTimeout(() => this.pump(), next.dueAtMs - now);
        return;
      }
      this.#queue.shift();
      this.#queued -= next.chunk.length;
      if (!this.#to.destroyed) {
        this.#to.write(next.chunk);
        this.#proxy.delivered(next.chunk.length);
      }
    }
  }

  /** A new delay applies to what is already queued too: re-date it from now. */
  redate(delayMs: number): void {
    const due = Date.now() + delayMs;
    for (const p of this.#queue) p.dueAtMs = Math.min(p.dueAtMs, due);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#queued = 0;
  }
}

function parseUpstream(upstream: ChaosProxyOptions['upstream']): { host: string; port: number; url: URL } {
  if (typeof upstream === 'string') {
    const url = new URL(upstream);
    const defaults: Record<string, number> = {
      'redis:': 6379,
      'rediss:': 6379,
      'postgres:': 5432,
      'postgresql:': 5432,
    };
    const port = Number(url.port || defaults[url.protocol]);
    if (!Number.isInteger(port) || port <= 0) {
      throw new TypeError(`startChaosProxy: the upstream URL "${url.protocol}//${url.host}" has no port; add one.`);
    }
    return { host: url.hostname, port, url };
  }
  if (!upstream || typeof upstream.host !== 'string' || !Number.isInteger(upstream.port)) {
    throw new TypeError('startChaosProxy: `upstream` must be a URL or { host, port }, e.g. "redis://127.0.0.1:6379".');
  }
  return { ...upstream, url: new URL(`tcp://${upstream.host}:${upstream.port}`) };
}

/** Start a proxy to `upstream` on 127.0.0.1; resolves once it listens. */
export async function startChaosProxy(options: ChaosProxyOptions): Promise<ChaosProxy> {
  const upstream = parseUpstream(options.upstream);
  let mode: ChaosMode = 'pass';
  let delayMs = 0;
  const stats: ChaosStats = { connections: 0, refused: 0, open: 0, bytesFromClients: 0, bytesToClients: 0 };
  const links = new Set<{ sockets: Socket[]; lanes: Lane[] }>();

  const server = createServer((client) => {
    stats.connections++;
    if (mode === 'cut') {
      stats.refused++;
      client.destroy();
      return;
    }
    const server = createConnection({ host: upstream.host, port: upstream.port });
    // Clients send small commands: no Nagle delay on top of the one we add on purpose.
    client.setNoDelay(true);
    server.setNoDelay(true);
    const link = {
      sockets: [client, server],
      lanes: [
        new Lane(client, server, {
          mode: () => mode,
          delayMs: () => delayMs,
          delivered: () => {},
        }),
        new Lane(server, client, {
          mode: () => mode,
          delayMs: () => delayMs,
          delivered: (n) => {
            stats.bytesToClients += n;
          },
        }),
      ],
    };
    client.on('data', (chunk: Buffer) => {
      stats.bytesFromClients += chunk.length;
    });
    links.add(link);
    stats.open++;
    let closed = false;
    const end = () => {
      if (closed) return;
      closed = true;
      stats.open--;
      links.delete(link);
      for (const lane of link.lanes) lane.stop();
      for (const s of link.sockets) s.destroy();
    };
    for (const s of link.sockets) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = new URL(upstream.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);

  const dropAll = () => {
    for (const link of [...links]) for (const s of link.sockets) s.destroy();
  };
  const pumpAll = () => {
    for (const link of links) for (const lane of link.lanes) lane.pump();
  };

  return {
    host: '127.0.0.1',
    port,
    url: url.toString().replace(/\/$/, ''),
    get mode() {
      return mode;
    },
    get delayMs() {
      return delayMs;
    },
    get stats() {
      return { ...stats };
    },
    cut() {
      mode = 'cut';
      delayMs = 0;
      dropAll();
    },
    blackhole() {
      mode = 'blackhole';
      pumpAll();
    },
    delay(ms) {
      if (!(Number.isFinite(ms) && ms >= 0)) {
        throw new TypeError(`ChaosProxy.delay: ms must be a number ≥ 0, got ${String(ms)}.`);
      }
      mode = 'pass';
      delayMs = ms;
      for (const link of links) for (const lane of link.lanes) lane.redate(ms);
      pumpAll();
    },
    restore() {
      mode = 'pass';
      delayMs = 0;
      for (const link of links) for (const lane of link.lanes) lane.redate(0);
      pumpAll();
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}
