import { createConnection, createServer, type Socket } from 'node:net';
import { databaseUrl } from '@cachelab/db';

/**
 * A TCP proxy in front of the real PostgreSQL that a test can cut and restore. A pool
 * connected through it sees a real outage: its open connections are dropped, and every new
 * one is closed as soon as it is opened ("Connection terminated unexpectedly", which the
 * app's error handler answers with a 503), while every other test keeps its PostgreSQL.
 * Nothing is faked: while the proxy is up, queries go to the real server.
 */
export interface PgProxy {
  /** A connection string for the real database, through the proxy. */
  url: string;
  /** Connections attempted while the proxy was cut: each is a query that failed. */
  readonly refused: number;
  /** Drop every open connection and refuse new ones: "PostgreSQL is down". */
  cut(): void;
  /** Pass connections through again. */
  restore(): void;
  close(): Promise<void>;
}

export async function startPgProxy(): Promise<PgProxy> {
  const target = new URL(databaseUrl());
  const upstream = { host: target.hostname, port: Number(target.port || 5432) };
  const sockets = new Set<Socket>();
  let down = false;
  let refused = 0;

  const server = createServer((client) => {
    if (down) {
      refused++;
      client.destroy();
      return;
    }
    const upstreamSocket = createConnection(upstream);
    for (const socket of [client, upstreamSocket]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstreamSocket.destroy();
      });
    }
    client.pipe(upstreamSocket).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(typeof address === 'object' && address ? address.port : 0);

  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    url: url.toString(),
    get refused() {
      return refused;
    },
    cut() {
      down = true;
      dropAll();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((resolve) => {
        dropAll();
        server.close(() => resolve());
      }),
  };
}
