import { connect, type Socket } from 'node:net';
import { listenOnUnixSocket, type SocketListener } from './unix-listener.ts';

/**
 * A PostgreSQL proxy that lets exactly one role in. The server trusts every role
 * (pg_hba `trust`), so whoever names `postgres` in the startup packet *is* `postgres`:
 * this proxy is where a graded run's startup packet is checked, before the real server
 * ever sees it. Only the start of a connection is parsed; after a startup packet is
 * accepted, bytes flow both ways untouched.
 *
 * What reaches the server is a startup packet we encoded ourselves from the parameters we
 * parsed, never the client's bytes, so the server cannot read the packet differently
 * from the way we checked it (a second `user`, a parameter after the terminator…).
 */

/** Protocol codes of the first packet (PostgreSQL's pqcomm.h). */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
/** Protocol 3.x: the major version in the high 16 bits. Minor versions are negotiated by the server. */
const PROTOCOL_MAJOR_3 = 3;

/** PostgreSQL's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH), in bytes. */
const MAX_STARTUP_BYTES = 10_000;
/** How long a client has to send its startup packet, ms. The server's own limit is 60 s (authentication_timeout). */
const STARTUP_TIMEOUT_MS = 10_000;
/** SSLRequest then GSSENCRequest (or the reverse) is the most a real client sends before its startup packet. */
const MAX_NEGOTIATIONS = 2;

export interface PostgresProxyOptions {
  /** Unix socket to listen on (created; an old file there is removed first). */
  socketPath: string;
  /** The real server. */
  upstream: { host: string; port: number };
  /** The only `user` a startup packet may name. */
  role: string;
  /** The `database` names a startup packet may ask for (the workshop's, and `postgres` for probes). */
  databases: readonly string[];
}

export function startPostgresProxy(options: PostgresProxyOptions): Promise<SocketListener> {
  return listenOnUnixSocket(options.socketPath, (client, track) => handle(client, options, track));
}

function handle(client: Socket, options: PostgresProxyOptions, track: (socket: Socket) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  let negotiations = 0;
  const timer = setTimeout(() => client.destroy(), STARTUP_TIMEOUT_MS);
  client.on('error', () => client.destroy());
  client.on('close', () => clearTimeout(timer));

  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 8) {
      const length = buffered.readInt32BE(0);
      if (length < 8 || length > MAX_STARTUP_BYTES) return client.destroy();
      if (buffered.length < length) return;
      const packet = buffered.subarray(0, length);
      const rest = buffered.subarray(length);
      buffered = Buffer.alloc(0);
      const code = packet.readInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        // No TLS on a Unix socket inside one machine: 'N' tells the client to go on in the clear.
        if (++negotiations > MAX_NEGOTIATIONS || rest.length > 0) return client.destroy();
        client.write('N');
        continue;
      }
      client.off('data', onData);
      clearTimeout(timer);
      if (code === CANCEL_REQUEST) {
        // Carries only a backend pid and its secret key: harmless to forward, and it is
        // how a client stops its own long query (pg's query cancel, psql's Ctrl-C).
        if (length !== 16) return client.destroy();
        return pipe(client, Buffer.from(packet), options.upstream, track);
      }
      if (code >>> 16 !== PROTOCOL_MAJOR_3) return refuse(client, '08P01', 'unsupported frontend protocol');
      const params = parseStartupParameters(packet.subarray(8));
      if (!params) return refuse(client, '08P01', 'invalid startup packet layout');
      const problem = checkStartup(params, options);
      if (problem) return refuse(client, problem.code, problem.message);
      return pipe(client, Buffer.concat([encodeStartup(code, params), rest]), options.upstream, track);
    }
  };
  client.on('data', onData);
}

/**
 * The `key\0value\0…\0` list of a startup packet, or null when it is malformed or names a
 * key twice (the server would take the last one; we refuse rather than guess).
 */
export function parseStartupParameters(body: Buffer): Map<string, string> | null {
  const params = new Map<string, string>();
  let at = 0;
  for (;;) {
    const keyEnd = body.indexOf(0, at);
    if (keyEnd < 0) return null;
    if (keyEnd === at) return keyEnd === body.length - 1 ? params : null; // the final \0, and nothing after it
    const valueEnd = body.indexOf(0, keyEnd + 1);
    if (valueEnd < 0) return null;
    const key = body.toString('utf8', at, keyEnd);
    if (params.has(key)) return null;
    params.set(key, body.toString('utf8', keyEnd + 1, valueEnd));
    at = valueEnd + 1;
  }
}

function checkStartup(
  params: Map<string, string>,
  options: PostgresProxyOptions,
): { code: string; message: string } | null {
  const user = params.get('user');
  if (user !== options.role) {
    return {
      code: '28000',
      message: `the grading sandbox only allows the role ${options.role}, not ${JSON.stringify(user ?? '')}`,
    };
  }
  // The server takes a missing database to mean the user's name; say which ones exist here instead.
  const database = params.get('database');
  if (database === undefined || !options.databases.includes(database)) {
    return {
      code: '3D000',
      message: `the grading sandbox only allows the databases ${options.databases.join(', ')}, not ${JSON.stringify(database ?? '')}`,
    };
  }
  // A replication connection (walsender) is refused by NOREPLICATION anyway; refusing it
  // here keeps the replication protocol out of the picture entirely.
  const replication = params.get('replication');
  if (replication !== undefined && !['false', 'off', 'no', '0'].includes(replication.toLowerCase())) {
    return { code: '28000', message: 'the grading sandbox does not allow replication connections' };
  }
  return null;
}

function encodeStartup(code: number, params: Map<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of params) parts.push(Buffer.from(`${key}\0${value}\0`, 'utf8'));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.writeInt32BE(body.length + 8, 0);
  header.writeInt32BE(code, 4);
  return Buffer.concat([header, body]);
}

/** An ErrorResponse ('E') with severity FATAL, as the server itself would send before closing. */
export function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0, 'latin1');
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

function refuse(client: Socket, code: string, message: string): void {
  client.end(errorResponse(code, message));
  // end() waits for the client to close its side too; do not let a silent client keep it.
  setTimeout(() => client.destroy(), 1000).unref();
}

function pipe(client: Socket, first: Buffer, upstream: { host: string; port: number }, track: (s: Socket) => void) {
  client.pause();
  const server = connect(upstream.port, upstream.host);
  track(server);
  const closeBoth = () => {
    client.destroy();
    server.destroy();
  };
  server.on('error', closeBoth);
  client.on('error', closeBoth);
  server.on('close', closeBoth);
  client.on('close', closeBoth);
  server.once('connect', () => {
    server.setNoDelay(true);
    server.write(first);
    client.pipe(server);
    server.pipe(client);
    client.resume();
  });
}
