/**
 * How the capstone store keeps an entry's expiry with its bytes in L2 (this file is done).
 *
 * Redis rounds a TTL up to whole seconds and runs on its own clock; L1 runs on the app's. An
 * instance that backfills L1 from L2 must know how long the entry has *left*, or it keeps the
 * copy for a whole L1 TTL after the entry expired. So every L2 value starts with 8 bytes: the
 * absolute time it expires, in ms on the app's clock (float64, big-endian), as lesson 06's
 * two-level store does.
 *
 *     [expires at, 8 bytes][the value]
 */
export const EXPIRY_BYTES = 8;

/** The value with its absolute expiry in front, ready for `l2.set`. */
export function wrapForL2(value: Uint8Array, expiresAtMs: number): Buffer {
  const stored = Buffer.allocUnsafe(EXPIRY_BYTES + value.byteLength);
  stored.writeDoubleBE(expiresAtMs, 0);
  stored.set(value, EXPIRY_BYTES);
  return stored;
}

/**
 * What `l2.get` returned, unwrapped: the value (a view, no copy) and the ms it has left at
 * `nowMs`; undefined when there was nothing, it is not an envelope, or it has expired.
 */
export function unwrapL2(
  stored: Buffer | undefined,
  nowMs: number,
): { value: Buffer; remainingMs: number } | undefined {
  if (stored === undefined || stored.length < EXPIRY_BYTES) return undefined;
  const remainingMs = stored.readDoubleBE(0) - nowMs;
  if (!(remainingMs > 0)) return undefined;
  return { value: stored.subarray(EXPIRY_BYTES), remainingMs };
}
