import { chmod, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';

/** Linux's limit on a Unix socket path (sun_path is 108 bytes with its terminating NUL). */
export const MAX_SOCKET_PATH_BYTES = 107;

export interface SocketListener {
  readonly path: string;
  /** Stop listening, destroy every connection (both sides of each proxied pair), remove the socket file. */
  close(): Promise<void>;
}

/**
 * Listen on a Unix socket that another uid may connect to, and remember every socket of
 * every connection, so that close() really ends them all: `server.close()` alone only
 * stops accepting and would leave a graded run's connections open to the services.
 *
 * `onConnection` gets the client's socket and `track`, to register the upstream sockets it opens.
 */
export async function listenOnUnixSocket(
  path: string,
  onConnection: (client: Socket, track: (socket: Socket) => void) => void,
): Promise<SocketListener> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new TypeError(
      `socket path ${path} is ${Buffer.byteLength(path)} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}. Use a shorter socketDir.`,
    );
  }
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((client) => {
    track(client);
    onConnection(client, track);
  });
  // A socket file left by a grader that was killed would make listen fail with EADDRINUSE.
  await rm(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // The run's processes have another uid: they need write permission on the socket to connect.
  // Who may reach the socket at all is decided by what the sandbox mounts, not by this mode.
  await chmod(path, 0o666);
  let closing: Promise<void> | undefined;
  return {
    path,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closed;
        await rm(path, { force: true });
      })();
      return closing;
    },
  };
}
