import type { Pool } from '@cachelab/db';

/** Every statement a pool sent to PostgreSQL since the last reset. */
export interface QueryCounter {
  /** How many statements reached PostgreSQL. */
  readonly count: number;
  /** Their SQL text, in order, for messages that say which query it was. */
  readonly statements: readonly string[];
  /** Statements whose text matches `pattern` (for example /borrower_payments/). */
  matching(pattern: RegExp): number;
  reset(): void;
}

/**
 * Count the statements `pool` sends to PostgreSQL, so a test can say "the second GET did
 * not reach the database". It wraps `query` on every client the pool connects (pool.query
 * and transactions alike go through a client), so nothing is faked: the queries still run.
 * Call it before the pool opens its first connection.
 */
export function countQueries(pool: Pool): QueryCounter {
  const statements: string[] = [];
  pool.on('connect', (client) => {
    const original = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      const text =
        typeof first === 'string'
          ? first
          : first && typeof first === 'object' && 'text' in first
            ? String((first as { text: unknown }).text)
            : '';
      statements.push(text.replace(/\s+/g, ' ').trim());
      return original(...args);
    };
  });
  return {
    get count() {
      return statements.length;
    },
    get statements() {
      return statements;
    },
    matching(pattern) {
      return statements.filter((s) => pattern.test(s)).length;
    },
    reset() {
      statements.length = 0;
    },
  };
}
