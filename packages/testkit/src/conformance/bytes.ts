import { assert } from 'vitest';

/** Every byte value once, 0 to 255, then sequences that are not valid UTF-8 (a text column or a decode would mangle them). */
export function allByteValues(): Uint8Array {
  const bytes = Array.from({ length: 256 }, (_, i) => i);
  // A lone continuation byte, an overlong NUL, a truncated 3-byte sequence, 0xFF 0xFE, a NUL.
  return Uint8Array.from([...bytes, 0x80, 0xc0, 0x80, 0xe2, 0x82, 0xff, 0xfe, 0x00]);
}

/** `size` bytes of a repeating, position-dependent pattern: a shifted or truncated copy does not match. */
export function patternedBytes(size: number, seed = 7): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >>> 8)) & 0xff;
  return out;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return `a string (${JSON.stringify(value.slice(0, 40))}${value.length > 40 ? '…' : ''})`;
  if (typeof value === 'object') return `an object (${Object.prototype.toString.call(value)})`;
  return `${typeof value} ${String(value)}`;
}

const preview = (bytes: Uint8Array, at: number) =>
  Array.from(bytes.subarray(Math.max(0, at - 4), at + 4), (b) => b.toString(16).padStart(2, '0')).join(' ');

/**
 * Fail, in words, unless `actual` is bytes equal to `expected`. Never prints megabytes: it says
 * how long each is and where the first difference is. `before`, when given, is the value the key
 * held until it was overwritten: getting it back is a stale copy, said as such, not an encoding.
 */
export function assertSameBytes(actual: unknown, expected: Uint8Array, what: string, before?: Uint8Array): void {
  if (actual === undefined) {
    assert.fail(`${what}: get() answered undefined (a miss), but ${expected.length} bytes were stored.`);
  }
  if (typeof actual === 'string') {
    assert.fail(
      `${what}: get() answered ${describeValue(actual)}, not bytes. Values are bytes: return a Buffer or Uint8Array, and store them as bytes (bytea), not as text.`,
    );
  }
  if (!(actual instanceof Uint8Array)) {
    assert.fail(`${what}: get() answered ${describeValue(actual)}; it should answer a Buffer or Uint8Array.`);
  }
  const bytes = actual as Uint8Array;
  if (before && Buffer.from(bytes).equals(Buffer.from(before)) && !Buffer.from(before).equals(Buffer.from(expected))) {
    assert.fail(
      `${what}: get() answered the value the key held before it was overwritten (${before.length} bytes): a copy kept somewhere (an L1, a local map) was not dropped when the key changed.`,
    );
  }
  const n = Math.min(bytes.length, expected.length);
  let i = 0;
  while (i < n && bytes[i] === expected[i]) i++;
  if (i === n && bytes.length === expected.length) return;
  if (i === n) {
    assert.fail(
      `${what}: got ${bytes.length} bytes back, ${expected.length} were stored (the first ${n} match: the value was ${bytes.length < expected.length ? 'cut short' : 'extended'}).`,
    );
  }
  assert.fail(
    `${what}: the bytes differ from what was stored, first at byte ${i} of ${expected.length} (got ${bytes[i]}, stored ${expected[i]}; around it got [${preview(bytes, i)}], stored [${preview(expected, i)}]). Values must come back byte for byte: no text encoding on the way.`,
  );
}
