import autocannon from 'autocannon';
import type { LoadPlan, LoadResult } from './load.ts';
import { summarizeLatencies } from './stats.ts';

/**
 * The load generator's own process (see load.ts): receives LoadPlans over IPC, one at a
 * time, runs autocannon for each and sends back its LoadResult; exits when the parent hangs up.
 *
 * Two things are measured here rather than taken from autocannon's summary:
 * - latency: autocannon's histogram has a resolution of 1 ms, and a cache hit on 127.0.0.1
 *   takes less than that; every response time (a float, from process.hrtime) is kept
 *   and the percentiles are computed exactly;
 * - `X-Cache`: read from each response's headers as they are parsed, to count hits.
 */
/** What autocannon's client really emits (its typings say 'headers' carries parsed headers; it carries the parser's raw list). */
interface Client {
  on(event: 'headers', listener: (info: { headers: string[]; statusCode: number }) => void): void;
  on(event: 'response', listener: (status: number, bytes: number, responseTimeMs: number) => void): void;
}

function run(plan: LoadPlan): Promise<LoadResult> {
  const latencies: number[] = [];
  const xCache: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let bytes = 0;
  let next = 0;
  let lastResponseAt = 0;
  let started = 0;
  const timeline: { responses: number; hits: number }[] = [];
  const second = () => {
    const i = Math.floor((performance.now() - started) / 1000);
    while (timeline.length <= i) timeline.push({ responses: 0, hits: 0 });
    return timeline[i] as { responses: number; hits: number };
  };
  const paths = plan.paths;
  const headersByPath = plan.headersByPath ?? {};
  const connections = Math.min(plan.connections ?? 10, plan.amount ?? Number.POSITIVE_INFINITY);

  let cap: NodeJS.Timeout | undefined;
  return new Promise((resolve, reject) => {
    started = performance.now();
    const instance = autocannon(
      {
        url: plan.url,
        connections,
        pipelining: 1,
        // autocannon checks whether `amount` is reached on this tick (default every 1,000 ms).
        sampleInt: 100,
        timeout: plan.timeoutSec ?? 10,
        ...(plan.amount !== undefined ? { amount: plan.amount } : { duration: plan.durationSec ?? 5 }),
        requests: [
          {
            // One sequence shared by every connection: request n gets paths[n].
            setupRequest: (request: Record<string, unknown>) => {
              const path = paths[next % paths.length] as string;
              next++;
              const extra = headersByPath[path];
              return extra
                ? { ...request, path, headers: { ...(request.headers as object), ...extra } }
                : { ...request, path };
            },
          },
        ],
        setupClient: (client: Client) => {
          client.on('headers', ({ headers }) => {
            let value = 'none';
            for (let i = 0; i < headers.length; i += 2) {
              if ((headers[i] as string).length === 7 && (headers[i] as string).toLowerCase() === 'x-cache') {
                value = (headers[i + 1] as string).toUpperCase();
                break;
              }
            }
            xCache[value] = (xCache[value] ?? 0) + 1;
            if (value === 'HIT') second().hits++;
          });
          client.on('response', (status, responseBytes, responseTimeMs) => {
            latencies.push(responseTimeMs);
            lastResponseAt = performance.now();
            second().responses++;
            bytes += responseBytes;
            const cls = `${Math.floor(status / 100)}xx`;
            statuses[cls] = (statuses[cls] ?? 0) + 1;
          });
        },
      } as unknown as autocannon.Options,
      (err, result) => {
        clearTimeout(cap);
        if (err) return reject(err);
        // From the start to the last response: autocannon notices that `amount` is reached
        // only on its next 1-second tick, so its own duration is rounded up to a second.
        const durationMs = (lastResponseAt || performance.now()) - started;
        resolve({
          requests: latencies.length,
          durationMs,
          rps: latencies.length / (durationMs / 1000),
          latency: summarizeLatencies(latencies),
          bytes,
          statuses,
          xCache,
          errors: result.errors,
          timeouts: result.timeouts,
          timeline,
        });
      },
    );
    // A safety cap even when `amount` bounds the run: never run longer than durationSec.
    // Cleared when the run ends: this process serves run after run (see load.ts).
    if (plan.amount !== undefined) {
      cap = setTimeout(() => (instance as unknown as { stop(): void }).stop(), (plan.durationSec ?? 60) * 1000);
      cap.unref();
    }
  });
}

// One plan at a time (load.ts queues them), as many as the parent sends; exit when it hangs up.
process.on('message', (plan: LoadPlan) => {
  run(plan).then(
    (result) => process.send?.({ result }),
    (err: unknown) => process.send?.({ error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
