export {
  type ChaosMode,
  type ChaosProxy,
  type ChaosProxyOptions,
  type ChaosStats,
  startChaosProxy,
} from './chaos/index.ts';
export {
  allByteValues,
  assertSameBytes,
  type CacheStoreCapabilities,
  type ConformantStore,
  describeCacheStore,
  eventually,
  LARGE_VALUE_BYTES,
  patternedBytes,
  type StoreFactory,
  type StoreInstance,
  utf8,
} from './conformance/index.ts';
export {
  expectConsistent,
  type HammerOptions,
  type HammerReport,
  hammer,
  hammerEmployeeNames,
} from './consistency.ts';
export { type HeldLock, holdTable } from './held-locks.ts';
export { type HttpHarness, parseServerTiming, type RequestListener, serve, type TestResponse } from './http.ts';
export { expectAllowed, expectJsonOnly, expectMalformedJson, expectProblem, type ProblemBody } from './http-edges.ts';
export {
  createIsolatedDatabase,
  createIsolatedRedis,
  deleteByPrefix,
  type IsolatedDatabase,
  type IsolatedRedis,
  isolationId,
} from './isolation.ts';
export { freePort } from './net.ts';
export { countQueries, type QueryCounter } from './query-counter.ts';
export { type Gate, gate, holdTheStoreOf } from './redis-gate.ts';
export { captureServerLog, describeLogged, type ServerLog } from './server-log.ts';
export {
  connectRedis,
  DEFAULT_REDIS_URL,
  describeRedis,
  probeRedis,
  REDIS_FIX,
  readServiceNeeds,
  redisUrl,
  type ServiceNeed,
  type ServiceNeeds,
} from './services.ts';
export { serveForTest, type TestServices, useServices } from './use-services.ts';
