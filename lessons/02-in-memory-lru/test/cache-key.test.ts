import { describe, expect, it } from 'vitest';
import { cacheKey, MAX_PARAMS_LENGTH } from '../src/cache-key.ts';

describe('cacheKey', () => {
  it('writes prefix, name, version and the parameters sorted by name', () => {
    expect(
      cacheKey({
        prefix: 'cl:',
        name: 'payments',
        params: { to: '2025-01-01', investor: 'DEMO_INV', from: '2024-01-01', limit: 100000 },
      }),
    ).toBe('cl:payments:v1:from=2024-01-01&investor=DEMO_INV&limit=100000&to=2025-01-01');
  });

  it('gives the same key whatever order the parameters come in', () => {
    const a = cacheKey({ name: 'payments', params: { from: '2024-01-01', to: '2025-01-01' } });
    const b = cacheKey({ name: 'payments', params: { to: '2025-01-01', from: '2024-01-01' } });
    expect(a).toBe(b);
  });

  it('gives different keys when any one parameter differs', () => {
    const base = { investor: 'DEMO_INV', from: '2024-01-01', to: '2025-01-01', limit: 100 };
    const keys = new Set([
      cacheKey({ name: 'payments', params: base }),
      cacheKey({ name: 'payments', params: { ...base, investor: 'INV00001' } }),
      cacheKey({ name: 'payments', params: { ...base, from: '2024-06-01' } }),
      cacheKey({ name: 'payments', params: { ...base, to: '2024-07-01' } }),
      cacheKey({ name: 'payments', params: { ...base, limit: 10 } }),
    ]);
    expect(keys.size).toBe(5);
  });

  it('has no parameter part without parameters, and defaults to no prefix and v1', () => {
    expect(cacheKey({ name: 'stats' })).toBe('stats:v1');
    expect(cacheKey({ name: 'stats', params: {} })).toBe('stats:v1');
    expect(cacheKey({ name: 'stats', params: { a: undefined } })).toBe('stats:v1');
  });

  it('uses the version given, so bumping it makes every old key unreachable', () => {
    expect(cacheKey({ name: 'employee', version: 2, params: { id: 7 } })).toBe('employee:v2:id=7');
    expect(cacheKey({ name: 'employee', version: '2024b', params: { id: 7 } })).toBe('employee:v2024b:id=7');
  });

  it('skips undefined values and writes numbers and booleans as text', () => {
    expect(cacheKey({ name: 'x', params: { b: true, a: 1, c: undefined } })).toBe('x:v1:a=1&b=true');
  });

  it('encodes values so that one cannot forge another parameter', () => {
    const forged = cacheKey({ name: 'x', params: { a: '1&b=2' } });
    const real = cacheKey({ name: 'x', params: { a: '1', b: '2' } });
    expect(forged).toBe('x:v1:a=1%26b%3D2');
    expect(forged).not.toBe(real);
  });

  it('hashes a parameter part longer than 200 characters, keeping the readable prefix', () => {
    const long = 'x'.repeat(MAX_PARAMS_LENGTH);
    const key = cacheKey({ prefix: 'cl:', name: 'search', params: { q: long } });
    expect(key).toMatch(/^cl:search:v1:#[A-Za-z0-9_-]{43}$/);
    expect(cacheKey({ prefix: 'cl:', name: 'search', params: { q: long } })).toBe(key);
    expect(cacheKey({ prefix: 'cl:', name: 'search', params: { q: `${long}y` } })).not.toBe(key);
  });

  it('keeps a parameter part of exactly 200 characters readable', () => {
    const value = 'x'.repeat(MAX_PARAMS_LENGTH - 2); // "q=" + 198 characters
    expect(cacheKey({ name: 's', params: { q: value } })).toBe(`s:v1:q=${value}`);
  });

  it('throws a TypeError when the name is missing', () => {
    expect(() => cacheKey({ name: '' })).toThrow(TypeError);
    expect(() => cacheKey({ name: '' })).toThrow(/`name` is required/);
  });
});
