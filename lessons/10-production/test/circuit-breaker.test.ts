import { describe, expect, it } from 'vitest';
import { type CircuitState, createCircuitBreaker } from '../src/circuit-breaker.ts';
import { manualClock } from './instances.ts';

function breaker(failureThreshold = 3, coolDownMs = 1_000) {
  const clock = manualClock();
  const changes: string[] = [];
  const b = createCircuitBreaker({
    failureThreshold,
    coolDownMs,
    now: clock.now,
    onStateChange: (to: CircuitState, from: CircuitState) => changes.push(`${from}→${to}`),
  });
  return { b, clock, changes };
}

describe('the circuit breaker', () => {
  it('stays closed below the threshold, and a success resets the count of failures', () => {
    const { b } = breaker(3);
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
  });

  it('opens after N failures in a row and allows nothing until the cool-down is over', () => {
    const { b, clock } = breaker(3, 1_000);
    for (let i = 0; i < 3; i++) b.failure();
    expect(b.state).toBe('open');
    expect(b.allow()).toBe(false);
    clock.advance(999);
    expect(b.allow()).toBe(false);
  });

  it('lets exactly one probe through after the cool-down; its success closes the circuit', () => {
    const { b, clock, changes } = breaker(3, 1_000);
    for (let i = 0; i < 3; i++) b.failure();
    clock.advance(1_000);
    expect(b.allow(), 'the probe').toBe(true);
    expect(b.state).toBe('half-open');
    expect(b.allow(), 'a second caller while the probe is in flight').toBe(false);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBe(true);
    expect(changes).toEqual(['closed→open', 'open→half-open', 'half-open→closed']);
  });

  it('opens again for a whole cool-down when the probe fails', () => {
    const { b, clock } = breaker(3, 1_000);
    for (let i = 0; i < 3; i++) b.failure();
    clock.advance(1_000);
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    clock.advance(500);
    expect(b.allow()).toBe(false);
    clock.advance(500);
    expect(b.allow()).toBe(true);
  });

  it('does not stay half-open forever when a probe never reports back', () => {
    const { b, clock } = breaker(1, 1_000);
    b.failure();
    clock.advance(1_000);
    expect(b.allow()).toBe(true); // a probe that is never reported
    clock.advance(1_000);
    expect(b.allow(), 'another probe after a cool-down').toBe(true);
  });

  it('rejects wrong options with a TypeError naming the option', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => createCircuitBreaker({ coolDownMs: -1 })).toThrow(/coolDownMs/);
  });
});
