/**
 * A circuit breaker in front of Redis.
 *
 *   closed ── failureThreshold failures in a row ──▶ open ── coolDownMs later ──▶ half-open
 *   half-open: ONE call goes through (the probe): success → closed, failure → open again.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Failures in a row that open the circuit. */
  failureThreshold: number;
  /** How long the circuit stays open before one probe is let through, in ms. */
  coolDownMs: number;
  /** The clock, in ms. Default performance.now (the tests pass their own). */
  now?: () => number;
}

export interface CircuitBreaker {
  readonly state: CircuitState;
  /** May this call go to Redis? A caller told yes reports success() or failure() afterwards. */
  allow(): boolean;
  success(): void;
  failure(): void;
}

export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const now = options.now ?? (() => performance.now());
  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;

  return {
    get state() {
      return state;
    },
    allow() {
      if (state === 'closed') return true;
      // Half-open: the probe is out; everybody else keeps falling back until it reports.
      if (state === 'half-open') return false;
      // Open: nobody calls Redis until the cool-down is over, then one probe may.
      if (now() - openedAt < options.coolDownMs) return false;
      state = 'half-open';
      return true;
    },
    success() {
      // One success proves Redis answers again: close, and start counting from zero.
      failures = 0;
      state = 'closed';
    },
    failure() {
      failures++;
      // A failed probe re-opens at once: Redis is still down, wait a whole cool-down again.
      // No need to ask for 'half-open' here: only success() resets the count (and it closes
      // the circuit), so a half-open breaker's count is still at the threshold.
      if (failures >= options.failureThreshold) {
        state = 'open';
        openedAt = now();
      }
    },
  };
}
