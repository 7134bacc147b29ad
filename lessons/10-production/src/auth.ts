import { createHmac, timingSafeEqual } from 'node:crypto';
import { HttpProblem } from '@cachelab/lesson-01-uncached/problem';
import type { Request, Response } from 'express';

/**
 * Who is asking: a bearer token the server signed, `<employee id>.<HMAC-SHA256 of it>`.
 * Lesson 07's `Bearer 42` let anyone be anyone; here a token cannot be forged without the
 * secret, so "the user" is something the server verified, and only that may go into a cache
 * key. Never key on a claim the client can set by itself (`X-User-Id: 42`, an unverified JWT
 * payload): then the attacker chooses whose cache entry they read.
 *
 * The token is a credential: it never goes into a key, a cached value or a log line. The key
 * holds the employee id the token proved.
 */
export interface Tokens {
  /** A token for `userId` (what a login endpoint would hand out). */
  issue(userId: number): string;
  /** The user a token proves, or undefined when it is missing, malformed or not ours. */
  verify(token: string): number | undefined;
}

export function createTokens(secret: string): Tokens {
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new TypeError(
      'createTokens: the secret must be a string of at least 16 characters (set CACHELAB_AUTH_SECRET, e.g. `openssl rand -hex 32`).',
    );
  }
  const sign = (id: string) => createHmac('sha256', secret).update(id).digest('base64url');
  return {
    issue: (userId) => `${userId}.${sign(String(userId))}`,
    verify(token) {
      const match = /^([1-9]\d{0,9})\.([A-Za-z0-9_-]{43})$/.exec(token);
      if (!match) return undefined;
      const [, id, mac] = match as unknown as [string, string, string];
      const expected = Buffer.from(sign(id));
      const given = Buffer.from(mac);
      // Constant time: how long a comparison takes must not tell how much of the MAC was right.
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
      const n = Number(id);
      return n <= 2_147_483_647 ? n : undefined;
    },
  };
}

/** Does the request carry credentials? Then no shared cache entry may answer it. */
export function hasCredentials(req: Request): boolean {
  // node lowercases header names: no need for req.get(), which lowercases them again on every call.
  return req.headers.authorization !== undefined || req.headers.cookie !== undefined;
}

/** The verified user of the request, or a 401 that says how to authenticate. */
export function authenticatedUser(req: Request, res: Response, tokens: Tokens): number {
  const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
  const user = match ? tokens.verify(match[1] as string) : undefined;
  if (user !== undefined) return user;
  res.set('WWW-Authenticate', 'Bearer realm="cachelab"');
  throw new HttpProblem(
    401,
    'unauthorized',
    'Authentication required',
    'Send `Authorization: Bearer <token>`; get a token for employee 42 with `npx tsx lessons/10-production/src/token.ts 42`.',
  );
}
