/**
 * A circuit breaker for the cache's Redis calls: when Redis keeps failing, stop calling it
 * for a while, so that a dead Redis costs each request nothing at all instead of a timeout.
 *
 *            N failures in a row                 cool-down over: let ONE call through
 *   closed ───────────────────────▶ open ───────────────────────────────▶ half-open
 *     ▲                              ▲                                        │
 *     │                              └──────────── the probe failed ──────────┤
 *     └──────────────────────────────────────────── the probe succeeded ──────┘
 *
 * - **closed**: every call goes to Redis. A success resets the count of failures.
 * - **open**: no call goes to Redis; the caller falls back at once (BYPASS). Without this,
 *   a Redis that answers nothing makes every request wait `commandTimeout` first.
 * - **half-open**: after `coolDownMs`, exactly one call (the probe) is let through. Success
 *   closes the circuit: caching resumes by itself, no restart. Failure opens it again for
 *   another cool-down. Only one probe at a time, so a recovering Redis is not hit by every
 *   request at once.
 *
 * bentocache has a simpler breaker (`l2CircuitBreakerDuration`: open on any error, closed
 * again after the duration, with no probe); the half-open state is what keeps a still-dead
 * Redis from costing one timeout per request for a moment after every cool-down.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  /** Failures in a row that open the circuit. Default 5. Must be ≥ 1. */
  failureThreshold?: number;
  /**
   * How long the circuit stays open before a probe, in ms. Default 2,000. Shorter notices a
   * recovery sooner; longer spends fewer probes (each may cost a `commandTimeout`) on a Redis
   * that is still down.
   */
  coolDownMs?: number;
  /** The clock, in ms. Default performance.now. Tests inject one to end a cool-down without waiting. */
  now?: () => number;
  /** Called on every change of state (for metrics and one log line per change). Must not throw. */
  onStateChange?: (to: CircuitState, from: CircuitState) => void;
}

export interface CircuitBreaker {
  readonly state: CircuitState;
  /** Failures in a row since the last success. */
  readonly failures: number;
  /**
   * May this call go to Redis? Closed: yes. Open: no, until the cool-down is over; then the
   * circuit turns half-open and this caller is the probe (yes). Half-open with a probe in
   * flight: no. A caller that was told yes must report `success()` or `failure()`.
   */
  allow(): boolean;
  success(): void;
  failure(): void;
}

export const DEFAULT_FAILURE_THRESHOLD = 5;
export const DEFAULT_COOL_DOWN_MS = 2_000;

export function createCircuitBreaker(options: CircuitBreakerOptions = {}): CircuitBreaker {
  const failureThreshold = options.failureThreshold ?? DEFAULT_FAILURE_THRESHOLD;
  const coolDownMs = options.coolDownMs ?? DEFAULT_COOL_DOWN_MS;
  if (!(Number.isSafeInteger(failureThreshold) && failureThreshold >= 1)) {
    throw new TypeError(
      `createCircuitBreaker: failureThreshold must be a whole number ≥ 1 (failures in a row that open the circuit), got ${String(failureThreshold)}.`,
    );
  }
  if (!(Number.isFinite(coolDownMs) && coolDownMs > 0)) {
    throw new TypeError(
      `createCircuitBreaker: coolDownMs must be a positive number of ms (e.g. 2000), got ${String(coolDownMs)}.`,
    );
  }
  const now = options.now ?? (() => performance.now());
  let state: CircuitState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let probeStartedAt = 0;

  const move = (to: CircuitState) => {
    if (to === state) return;
    const from = state;
    state = to;
    try {
      options.onStateChange?.(to, from);
    } catch {
      // A metric or a logger that throws must not break the cache.
    }
  };
  const open = () => {
    openedAt = now();
    move('open');
  };

  return {
    get state() {
      return state;
    },
    get failures() {
      return failures;
    },
    allow() {
      if (state === 'closed') return true;
      const t = now();
      if (state === 'open') {
        if (t - openedAt < coolDownMs) return false;
        probeStartedAt = t;
        move('half-open');
        return true;
      }
      // Half-open: one probe at a time. A probe nobody reported on (a caller's bug, a
      // promise that never settled) must not block recovery forever: after a cool-down, another.
      if (t - probeStartedAt < coolDownMs) return false;
      probeStartedAt = t;
      return true;
    },
    success() {
      failures = 0;
      move('closed');
    },
    failure() {
      failures++;
      if (state === 'half-open' || failures >= failureThreshold) open();
    },
  };
}
