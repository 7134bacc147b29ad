import { describeDatabase, POSTGRES_FIX } from './config.ts';

/**
 * PostgreSQL could not be reached (refused, timed out, shut down). Handlers let it
 * propagate; the error handler turns it into a 503 problem+json that names the fix.
 */
export class DatabaseUnavailableError extends Error {
  readonly code = 'E_DB_UNAVAILABLE';
  constructor(where: string, options?: { cause?: unknown }) {
    super(`Can't reach PostgreSQL at ${where}. ${POSTGRES_FIX}`, options);
    this.name = 'DatabaseUnavailableError';
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EPIPE',
  // PostgreSQL's own: admin shutdown, crash shutdown, cannot connect now, too many connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
  // database does not exist
  '3D000',
]);

/** True when `err` means "the database is not there", as opposed to a bad query. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof DatabaseUnavailableError) return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (err instanceof AggregateError) return err.errors.some(isConnectionError);
  return /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Query read timeout/i.test(
    err.message,
  );
}

/**
 * True when PostgreSQL did not answer a query in time: the client's own `query_timeout`
 * ("Query read timeout": no answer at all) or the server's `statement_timeout` (SQLSTATE
 * 57014: it ran too long and was cancelled). Either way the client should back off and retry.
 */
export function isQueryTimeout(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth += 1) {
    if ((e as { code?: unknown }).code === '57014' || /Query read timeout/i.test(e.message)) return true;
  }
  return false;
}

/** Wrap a connection failure into a DatabaseUnavailableError; other errors pass through. */
export function asDatabaseError(err: unknown, url?: string): unknown {
  if (err instanceof DatabaseUnavailableError) return err;
  return isConnectionError(err) ? new DatabaseUnavailableError(describeDatabase(url), { cause: err }) : err;
}

/**
 * A connection failure in words: what node and the drivers say (`connect ECONNREFUSED
 * 127.0.0.1:5499`) turned into what it means (`nothing listens on 127.0.0.1:5499`). Messages
 * that already read well (a password refused, a database that does not exist) pass through.
 */
export function plainConnectionError(message: string): string {
  const m = /\b(?:connect )?(ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET)\b\s*(\S+:\d+)?/.exec(message);
  if (m) {
    const at = m[2] ? ` ${m[2]}` : '';
    switch (m[1]) {
      case 'ECONNREFUSED':
        return m[2] ? `nothing listens on ${m[2]}` : 'the connection was refused: nothing listens there';
      case 'ETIMEDOUT':
        return `no answer from${at || ' the server'} (the connection timed out)`;
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return `the network has no route to${at || ' the server'}`;
      default:
        return `the connection${at ? ` to${at}` : ''} was reset`;
    }
  }
  const host = /getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (\S+)/.exec(message);
  if (host) return `there is no host named "${host[1]}" (check the host in the URL)`;
  if (/timeout expired|connection timeout|Connection terminated due to connection timeout/i.test(message))
    return 'no answer in time (the connection timed out)';
  return message;
}
