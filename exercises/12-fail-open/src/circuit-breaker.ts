/**
 * A circuit breaker in front of Redis.
 *
 *   closed ── failureThreshold failures in a row ──▶ open ── coolDownMs later ──▶ half-open
 *   half-open: ONE call goes through (the probe): success → closed, failure → open again.
 *
 * app.ts creates it; redis-cache.ts asks it before every Redis call; the tests read `state`.
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

export function createCircuitBreaker(_options: CircuitBreakerOptions): CircuitBreaker {
  // TODO: count failures in a row; open the circuit at failureThreshold; while open, allow
  // nothing until coolDownMs have passed on the `now` clock; then allow one probe
  // (half-open): its success closes the circuit, its failure opens it again.
  return {
    get state(): CircuitState {
      return 'closed';
    },
    allow() {
      return true;
    },
    success() {},
    failure() {},
  };
}
