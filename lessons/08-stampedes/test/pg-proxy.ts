import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { databaseUrl } from '@cachelab/db';

/**
 * A TCP proxy in front of the real PostgreSQL that a test can cut and restore: a pool
 * connected through it sees a real outage (connections reset, then refused, so the app's
 * error handler answers a real 503), while every other test file keeps using PostgreSQL.
 * Nothing is faked: queries go to the real server while the proxy is up.
 */
export interface PgProxy {
  /** A connection string for the real database, through the proxy. */
  url: string;
  /** Drop every open connection and refuse new ones: "PostgreSQL is down". */
  cut(): Promise<void>;
  /** Accept connections again (on the same port). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startPgProxy(): Promise<PgProxy> {
  const target = new URL(databaseUrl());
  const upstream = { host: target.hostname, port: Number(target.port || 5432) };
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
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
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        const address = s.address();
        port = typeof address === 'object' && address ? address.port : port;
        server = s;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });

  await listen();
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return { url: url.toString(), cut: stop, restore: listen, close: stop };
}
