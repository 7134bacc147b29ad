import { deserialize, serialize } from 'node:v8';
import { Packr, pack, unpack } from 'msgpackr';

/**
 * What goes into Redis when the cache holds a *value* (a row, an object your code reads back),
 * not an HTTP body: the format, and what it keeps of the value's types. Step 4 measures the
 * three below on the lesson's real answers and `test/value-codecs.test.ts` shows what each keeps.
 *
 * This lesson's routes store the JSON body itself (README, "store bytes, not values"): a hit sends
 * those bytes as they are, and no other format can beat no work at all. A codec matters when
 * the cached thing is read by code: a row reused by several routes, a session, a computed
 * object. Every codec here turns a value into one Buffer and back; all of them are synchronous
 * and block the event loop for the time step 4 measures.
 */
export interface ValueCodec {
  /** For tables and messages: 'json', 'msgpack', … */
  readonly name: string;
  encode(value: unknown): Buffer;
  decode(bytes: Buffer): unknown;
}

/**
 * JSON: readable by every language and by `redis-cli GET`, and already the HTTP body. It keeps
 * strings, finite numbers, booleans, null, arrays and plain objects, and nothing else: a Date
 * comes back as its ISO string, a Map or a Set as `{}` (their entries silently lost), a
 * property whose value is undefined disappears, and a bigint **throws** (TypeError).
 */
export const jsonCodec: ValueCodec = {
  name: 'json',
  encode: (value) => Buffer.from(JSON.stringify(value)),
  decode: (bytes) => JSON.parse(bytes.toString('utf8')),
};

/**
 * MessagePack through msgpackr, with its defaults: standard MessagePack maps, arrays and
 * strings (another language's decoder reads them), a Date as the MessagePack timestamp
 * extension (it comes back a Date), a bigint as a 64-bit integer (it comes back a bigint;
 * one beyond 64 bits **throws**), a Map as a map that comes back a plain object, a Set as an
 * array.
 */
export const msgpackCodec: ValueCodec = {
  name: 'msgpack',
  encode: (value) => pack(value),
  decode: (bytes) => unpack(bytes),
};

/**
 * msgpackr's records extension: each object shape is written once per buffer and each row
 * refers to it, so 100,000 rows do not repeat their 9 keys 100,000 times. Smaller and faster,
 * **but msgpackr-only**: a standard MessagePack decoder (another language, another library)
 * cannot read it. Each buffer carries its own shapes (no shared `structures` to keep in sync).
 */
const records = new Packr({ useRecords: true });
export const msgpackRecordsCodec: ValueCodec = {
  name: 'msgpack-records',
  encode: (value) => records.pack(value),
  decode: (bytes) => records.unpack(bytes),
};

/**
 * V8's structured clone, what `postMessage` and `structuredClone` use: Date, bigint (any
 * size), Map, Set, typed arrays, undefined all come back as they went in. Class instances come
 * back as plain objects; a function **throws**. **Node-only**, and tied to V8's format version:
 * Node documents it as backward-compatible (a newer Node reads an older one's bytes), so in a
 * rolling upgrade the old instances may fail to read what the new ones wrote.
 */
export const v8Codec: ValueCodec = {
  name: 'v8',
  encode: (value) => serialize(value),
  decode: (bytes) => deserialize(bytes),
};

export const CODECS: readonly ValueCodec[] = [jsonCodec, msgpackCodec, msgpackRecordsCodec, v8Codec];
