import { connect, type Socket } from 'node:net';
import { listenOnUnixSocket, type SocketListener } from './unix-listener.ts';

/**
 * A Redis proxy that logs in as the run's ACL user and never lets the client log in as
 * anyone else. The `default` user has no password on a workshop's Redis, so one `AUTH
 * default x`, `HELLO 3 AUTH default x` or `RESET` (which returns to `default`) would undo
 * the ACL. The proxy authenticates each upstream connection itself, then rewrites every
 * AUTH, HELLO and RESET the client sends into a command Redis does not know: Redis answers
 * it with `-ERR unknown command`, in its place in a pipeline or a MULTI, and the
 * connection stays the run's user.
 *
 * Every command reaches Redis re-encoded by us, as a RESP array of bulk strings, whatever
 * the client sent (inline commands included), so Redis cannot read a command differently
 * from the way we checked it. Bulk arguments other than the command name are streamed
 * through as they arrive, so a 5 MiB value costs no 5 MiB buffer here. Replies are piped
 * back untouched.
 */

/** What a denied command is renamed to. Redis has no such command, whatever its version. */
export const DENIED_COMMAND = 'CACHELAB_SANDBOX_DENIES_AUTH';
/** Commands that change who the connection is (lower case; Redis compares ASCII-case-insensitively). */
const IDENTITY_COMMANDS = new Set(['auth', 'hello', 'reset']);

/** Redis's own limits (server.h): an inline command line, the elements of an array, a bulk string. */
const MAX_INLINE_BYTES = 64 * 1024;
const MAX_ARRAY_LENGTH = 1024 * 1024;
const MAX_BULK_BYTES = 512 * 1024 * 1024;
/** `*1048576\r\n` and `$536870912\r\n` fit; a longer header line is not RESP. */
const MAX_HEADER_BYTES = 16;
/** A command name longer than this cannot be one we deny: it is streamed like any argument. */
const MAX_NAME_BYTES = 32;
/** How long the proxy waits for Redis to accept its AUTH, ms. */
const AUTH_TIMEOUT_MS = 5_000;

export class RespProtocolError extends Error {
  readonly code = 'E_RESP_PROTOCOL';
}

type State =
  | { kind: 'start' }
  | { kind: 'bulk-header'; index: number; count: number }
  | { kind: 'name'; length: number; count: number }
  | { kind: 'bulk-data'; remaining: number; index: number; count: number }
  | { kind: 'bulk-end'; index: number; count: number };

/**
 * The client→server half of the proxy, as a pure function of the bytes: feed it chunks, it
 * calls `emit` with the bytes to send to Redis. Throws RespProtocolError on anything
 * that is not RESP (the connection is then closed, as Redis itself would do).
 *
 * Memory: at most one header line, one inline command (64 KiB, Redis's limit) or one
 * command name is buffered; bulk data passes through.
 */
export function createCommandFilter(emit: (bytes: Buffer) => void): { push(chunk: Buffer): void } {
  let buffer: Buffer = Buffer.alloc(0);
  let state: State = { kind: 'start' };

  const line = (limit: number): Buffer | null => {
    const end = buffer.indexOf('\n');
    if (end < 0) {
      if (buffer.length > limit) throw new RespProtocolError('too long a line');
      return null;
    }
    if (end > limit) throw new RespProtocolError('too long a line');
    const text = buffer.subarray(0, end > 0 && buffer[end - 1] === 0x0d ? end - 1 : end);
    buffer = buffer.subarray(end + 1);
    return text;
  };
  const afterArgument = (index: number, count: number): State =>
    index + 1 < count ? { kind: 'bulk-header', index: index + 1, count } : { kind: 'start' };

  const step = (): boolean => {
    switch (state.kind) {
      case 'start': {
        if (buffer.length === 0) return false;
        if (buffer[0] !== 0x2a /* '*' */) {
          const text = line(MAX_INLINE_BYTES);
          if (!text) return false;
          const args = splitInline(text);
          // Redis ignores an empty line (telnet users press Enter); so do we: no reply is owed.
          if (args.length > 0) {
            if (isIdentityCommand(args[0] as Buffer)) args[0] = Buffer.from(DENIED_COMMAND);
            emit(encodeCommand(args));
          }
          return true;
        }
        const text = line(MAX_HEADER_BYTES);
        if (!text) return false;
        const count = parseLength(text, '*', MAX_ARRAY_LENGTH, true);
        // `*0` and `*-1` are no command at all to Redis: nothing to forward, no reply owed.
        if (count > 0) {
          emit(Buffer.from(`*${count}\r\n`));
          state = { kind: 'bulk-header', index: 0, count };
        }
        return true;
      }
      case 'bulk-header': {
        const text = line(MAX_HEADER_BYTES);
        if (!text) return false;
        const length = parseLength(text, '$', MAX_BULK_BYTES, false);
        if (state.index === 0 && length <= MAX_NAME_BYTES) {
          state = { kind: 'name', length, count: state.count };
        } else {
          emit(Buffer.from(`$${length}\r\n`));
          state = { kind: 'bulk-data', remaining: length, index: state.index, count: state.count };
        }
        return true;
      }
      case 'name': {
        if (buffer.length < state.length + 2) return false;
        if (buffer[state.length] !== 0x0d || buffer[state.length + 1] !== 0x0a) {
          throw new RespProtocolError('a bulk string not followed by CRLF');
        }
        const name = buffer.subarray(0, state.length);
        buffer = buffer.subarray(state.length + 2);
        const sent = isIdentityCommand(name) ? Buffer.from(DENIED_COMMAND) : name;
        emit(Buffer.concat([Buffer.from(`$${sent.length}\r\n`), sent, Buffer.from('\r\n')]));
        state = afterArgument(0, state.count);
        return true;
      }
      case 'bulk-data': {
        if (state.remaining === 0) {
          state = { kind: 'bulk-end', index: state.index, count: state.count };
          return true;
        }
        if (buffer.length === 0) return false;
        const take = Math.min(state.remaining, buffer.length);
        emit(buffer.subarray(0, take));
        buffer = buffer.subarray(take);
        state = { ...state, remaining: state.remaining - take };
        return true;
      }
      case 'bulk-end': {
        if (buffer.length < 2) return false;
        if (buffer[0] !== 0x0d || buffer[1] !== 0x0a) throw new RespProtocolError('a bulk string not followed by CRLF');
        buffer = buffer.subarray(2);
        emit(Buffer.from('\r\n'));
        state = afterArgument(state.index, state.count);
        return true;
      }
    }
  };

  return {
    push(chunk: Buffer) {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      while (step()) {}
      // Keep no reference to a large chunk we have already passed on.
      if (buffer.length === 0) buffer = Buffer.alloc(0);
    },
  };
}

function isIdentityCommand(name: Buffer): boolean {
  if (name.length > 5) return false;
  // ASCII-only lower case, as Redis compares command names (strcasecmp).
  return IDENTITY_COMMANDS.has(name.toString('latin1').replace(/[A-Z]/g, (c) => c.toLowerCase()));
}

function parseLength(text: Buffer, marker: '*' | '$', max: number, allowNegative: boolean): number {
  const s = text.toString('latin1');
  const match = (allowNegative ? /^\*(-?\d{1,10})$/ : /^\$(\d{1,10})$/).exec(s);
  if (!match || s[0] !== marker) throw new RespProtocolError(`invalid ${marker} length`);
  const n = Number(match[1]);
  if (n > max) throw new RespProtocolError(`${marker} length over ${max}`);
  return n;
}

/** A command as Redis's wire format: an array of bulk strings. */
export function encodeCommand(args: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) parts.push(Buffer.from(`$${arg.length}\r\n`), arg, Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

/**
 * An inline command's arguments, split the way Redis splits them (sdssplitargs): blanks
 * separate, "double quotes" take \n \r \t \b \a \xHH and \\ escapes, 'single quotes' take \'.
 * What Redis runs is our re-encoding, so an odd line is at worst split differently, never
 * let through unchecked.
 */
export function splitInline(text: Buffer): Buffer[] {
  const args: Buffer[] = [];
  const isBlank = (c: number | undefined) =>
    c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c;
  const isHex = (c: number | undefined) => c !== undefined && /[0-9a-fA-F]/.test(String.fromCharCode(c));
  let i = 0;
  for (;;) {
    while (i < text.length && isBlank(text[i])) i++;
    if (i >= text.length) return args;
    const current: number[] = [];
    let quote: 0 | 0x22 | 0x27 = 0;
    for (;;) {
      const c = text[i];
      if (quote === 0x22) {
        if (c === undefined) throw new RespProtocolError('unbalanced quotes in request');
        if (c === 0x5c && text[i + 1] === 0x78 && isHex(text[i + 2]) && isHex(text[i + 3])) {
          current.push(Number.parseInt(text.toString('latin1', i + 2, i + 4), 16));
          i += 4;
          continue;
        }
        if (c === 0x5c && i + 1 < text.length) {
          const e = text[i + 1] as number;
          const escapes: Record<number, number> = { 110: 0x0a, 114: 0x0d, 116: 0x09, 98: 0x08, 97: 0x07 };
          current.push(escapes[e] ?? e);
          i += 2;
          continue;
        }
        if (c === 0x22) {
          if (i + 1 < text.length && !isBlank(text[i + 1])) throw new RespProtocolError('unbalanced quotes in request');
          i++;
          break;
        }
        current.push(c);
        i++;
      } else if (quote === 0x27) {
        if (c === undefined) throw new RespProtocolError('unbalanced quotes in request');
        if (c === 0x5c && text[i + 1] === 0x27) {
          current.push(0x27);
          i += 2;
          continue;
        }
        if (c === 0x27) {
          if (i + 1 < text.length && !isBlank(text[i + 1])) throw new RespProtocolError('unbalanced quotes in request');
          i++;
          break;
        }
        current.push(c);
        i++;
      } else {
        if (c === undefined || isBlank(c) || c === 0) break;
        if (c === 0x22 || c === 0x27) quote = c;
        else current.push(c);
        i++;
      }
    }
    args.push(Buffer.from(current));
  }
}

export interface RedisProxyOptions {
  /** Unix socket to listen on (created; an old file there is removed first). */
  socketPath: string;
  /** The real server. */
  upstream: { host: string; port: number };
  /** The ACL user every upstream connection logs in as, and its password. */
  user: string;
  password: string;
}

export function startRedisProxy(options: RedisProxyOptions): Promise<SocketListener> {
  return listenOnUnixSocket(options.socketPath, (client, track) => handle(client, options, track));
}

function handle(client: Socket, options: RedisProxyOptions, track: (socket: Socket) => void): void {
  const server = connect(options.upstream.port, options.upstream.host);
  track(server);
  const closeBoth = () => {
    client.destroy();
    server.destroy();
  };
  client.on('error', closeBoth);
  client.on('close', closeBoth);
  server.on('error', closeBoth);
  server.on('close', closeBoth);
  const timer = setTimeout(closeBoth, AUTH_TIMEOUT_MS);

  // Until Redis has said +OK to our AUTH, the client's bytes wait in its socket (no 'data'
  // listener yet): nothing it sends can run as `default`.
  server.once('connect', () => {
    server.setNoDelay(true);
    server.write(encodeCommand([Buffer.from('AUTH'), Buffer.from(options.user), Buffer.from(options.password)]));
  });
  let reply: Buffer = Buffer.alloc(0);
  const onAuthReply = (chunk: Buffer) => {
    reply = Buffer.concat([reply, chunk]);
    const end = reply.indexOf('\r\n');
    if (end < 0) {
      if (reply.length > 512) closeBoth();
      return;
    }
    if (reply.toString('latin1', 0, end) !== '+OK' || reply.length > end + 2) return closeBoth();
    clearTimeout(timer);
    server.off('data', onAuthReply);
    server.pipe(client);
    let draining = false;
    const filter = createCommandFilter((bytes) => {
      // Backpressure: a client that writes faster than Redis reads waits, rather than fill our memory.
      if (!server.write(bytes) && !draining) {
        draining = true;
        client.pause();
        server.once('drain', () => {
          draining = false;
          client.resume();
        });
      }
    });
    client.on('data', (chunk: Buffer) => {
      // One chunk may hold a pipeline of commands, each emitted in pieces: corked, they
      // leave in one write instead of a packet per piece (measured: the sandbox's cost).
      server.cork();
      try {
        filter.push(chunk);
      } catch {
        closeBoth();
      } finally {
        server.uncork();
      }
    });
  };
  server.on('data', onAuthReply);
}
