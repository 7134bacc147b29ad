export { allByteValues, assertSameBytes, patternedBytes, utf8 } from './bytes.ts';
export { describeCacheStore, eventually, LARGE_VALUE_BYTES } from './describe-cache-store.ts';
export type { CacheStoreCapabilities, ConformantStore, StoreFactory, StoreInstance } from './types.ts';
