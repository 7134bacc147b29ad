import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitState } from './circuit-breaker.ts';
import type { CacheObserver, ProductionCache } from './production-cache.ts';

/**
 * The cache's numbers, in the Prometheus text format on `GET /metrics`, with prom-client.
 * A cache you cannot see is a cache you cannot run: these are the series a dashboard and
 * an alert need, and each one answers a question.
 *
 *   cache_requests_total{name,result}       hit / miss / stale / bypass per kind of value
 *   cache_hit_ratio{name}                   hits ÷ (hits + misses + bypasses) since start
 *   cache_l1_evictions_total                L1 too small for the working set? (rises with a falling ratio)
 *   cache_l1_bytes / cache_l1_max_bytes     memory held vs its bound
 *   cache_l1_entries
 *   cache_loader_duration_seconds{name}     histogram: how long the database takes on a miss
 *   cache_loader_errors_total{name}
 *   cache_l2_errors_total{operation}        Redis failures (timeouts, refused, closed)
 *   cache_l2_duration_seconds{operation}    histogram: how long Redis calls take, as the app sees them
 *                                           (its event loop included): what `commandTimeout` must exceed
 *   cache_invalidations_pending             keys whose invalidation failed and is being retried
 *   cache_l2_skipped_total{operation}       Redis calls not made: the circuit was open
 *   cache_circuit_state                     0 closed, 1 half-open, 2 open
 *   cache_circuit_transitions_total{to}
 *   cache_bus_connected                     1 while invalidations can reach this instance
 *   cache_bus_flushes_total{reason}         L1 dropped after a reconnect / a lost message
 *
 * Labels are bounded on purpose: `name` is the kind of value (employee, payments…), never
 * the key or the user. A label per key or per user is a time series per key or user: it
 * grows without bound, and it puts identifiers in a system that is not meant to hold them.
 *
 * Each app has its own `Registry` (not prom-client's global one), so two apps in one process
 * (tests, or lesson 10's two instances) never mix their numbers.
 */
export interface CacheMetrics {
  registry: Registry;
  observer: CacheObserver;
  /** Give the gauges their source: called once the cache exists. */
  attach(cache: ProductionCache): void;
}

const CIRCUIT_VALUE: Record<CircuitState, number> = { closed: 0, 'half-open': 1, open: 2 };

export function createCacheMetrics(options: { defaultMetrics?: boolean } = {}): CacheMetrics {
  const registry = new Registry();
  // Process metrics (heap, RSS, event-loop lag, GC): useful next to L1's bytes in production.
  // Off in tests: they start timers of their own.
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
  let cache: ProductionCache | undefined;
  const counts = new Map<string, { hits: number; all: number }>();

  const requests = new Counter({
    name: 'cache_requests_total',
    help: 'Cached requests by kind of value and result: hit, miss, stale (served past its TTL while the database failed), bypass (Redis unavailable).',
    labelNames: ['name', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'cache_hit_ratio',
    help: 'Hits divided by all cached requests (hit, miss, stale, bypass) since start, per kind of value.',
    labelNames: ['name'] as const,
    registers: [registry],
    collect() {
      for (const [name, c] of counts) this.set({ name }, c.all === 0 ? 0 : c.hits / c.all);
    },
  });
  const evictions = new Counter({
    name: 'cache_l1_evictions_total',
    help: 'L1 entries evicted to stay under cache_l1_max_bytes.',
    registers: [registry],
  });
  new Gauge({
    name: 'cache_l1_bytes',
    help: 'Bytes held by L1 (bodies + keys, each body owning its memory).',
    registers: [registry],
    collect() {
      this.set(cache?.l1.bytes ?? 0);
    },
  });
  new Gauge({
    name: 'cache_l1_max_bytes',
    help: 'The bound of cache_l1_bytes.',
    registers: [registry],
    collect() {
      this.set(cache?.l1.maxBytes ?? 0);
    },
  });
  new Gauge({
    name: 'cache_l1_entries',
    help: 'Entries in L1.',
    registers: [registry],
    collect() {
      this.set(cache?.l1.entries ?? 0);
    },
  });
  const loader = new Histogram({
    name: 'cache_loader_duration_seconds',
    help: 'Time the loader (PostgreSQL) took on a miss, per kind of value.',
    labelNames: ['name'] as const,
    // From a primary-key lookup (~1 ms) to the 100,000-row payments page (~1 s).
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const loaderErrors = new Counter({
    name: 'cache_loader_errors_total',
    help: 'Loads that threw (404s included), per kind of value.',
    labelNames: ['name'] as const,
    registers: [registry],
  });
  const l2Errors = new Counter({
    name: 'cache_l2_errors_total',
    help: 'Redis calls that failed (timeout, refused, closed), per operation.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  const l2Duration = new Histogram({
    name: 'cache_l2_duration_seconds',
    help: 'Time a Redis call took as the app saw it (queueing in its event loop included), failed ones too, per operation.',
    labelNames: ['operation'] as const,
    // From a loopback round trip to past any sane command timeout.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'cache_invalidations_pending',
    help: 'Keys whose invalidation (DEL + generation bump, or the bus message) failed and is retried; this instance reads no L2 while > 0.',
    registers: [registry],
    collect() {
      this.set(cache?.invalidationsPending ?? 0);
    },
  });
  const l2Skipped = new Counter({
    name: 'cache_l2_skipped_total',
    help: 'Redis calls not made because the circuit breaker was open, per operation.',
    labelNames: ['operation'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'cache_circuit_state',
    help: 'The circuit breaker in front of Redis: 0 closed, 1 half-open, 2 open.',
    registers: [registry],
    collect() {
      this.set(CIRCUIT_VALUE[cache?.circuit ?? 'closed']);
    },
  });
  const transitions = new Counter({
    name: 'cache_circuit_transitions_total',
    help: 'Changes of state of the circuit breaker, by the state entered.',
    labelNames: ['to'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'cache_bus_connected',
    help: '1 while this instance is subscribed to the invalidation bus, 0 while it cannot hear invalidations.',
    registers: [registry],
    collect() {
      this.set(cache?.bus.connected ? 1 : 0);
    },
  });
  const flushes = new Counter({
    name: 'cache_bus_flushes_total',
    help: 'Times L1 was emptied because invalidations may have been lost, by reason (reconnect, gap).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });

  // Start every series at 0, so a dashboard shows a flat line (not "no data") before the first event.
  for (const result of ['hit', 'miss', 'stale', 'bypass']) requests.inc({ name: 'employee', result }, 0);
  for (const operation of ['get', 'generation', 'set', 'delete', 'publish']) {
    l2Errors.inc({ operation }, 0);
    l2Skipped.inc({ operation }, 0);
  }
  for (const to of ['open', 'half-open', 'closed']) transitions.inc({ to }, 0);
  for (const reason of ['reconnect', 'gap']) flushes.inc({ reason }, 0);
  evictions.inc(0);

  return {
    registry,
    attach(c) {
      cache = c;
    },
    observer: {
      result(name, status) {
        requests.inc({ name, result: status.toLowerCase() });
        const c = counts.get(name) ?? { hits: 0, all: 0 };
        c.all++;
        if (status === 'HIT') c.hits++;
        counts.set(name, c);
      },
      loaded(name, seconds, ok) {
        loader.observe({ name }, seconds);
        if (!ok) loaderErrors.inc({ name });
      },
      l2Error: (operation) => l2Errors.inc({ operation }),
      l2Skipped: (operation) => l2Skipped.inc({ operation }),
      l2Duration: (operation, seconds) => l2Duration.observe({ operation }, seconds),
      circuit: (to) => transitions.inc({ to }),
      evicted: () => evictions.inc(),
      busFlush: (reason) => flushes.inc({ reason }),
    },
  };
}
