import { checkLocal, type LoadPlan } from './load.ts';

/**
 * What a revalidating client sends: for each path, `If-None-Match` with the ETag of the 200
 * it got for that path. `GET`s every path once (`concurrency` at a time, keep-alive), reads
 * each ETag and returns them as a load plan's `headersByPath`, so that a load test can
 * measure the 304 path of an HTTP cache (lesson 07) with the clients it is made for.
 *
 * Each path must answer 200 with an `ETag`, or this rejects naming the path: a client with
 * nothing to revalidate sends no If-None-Match, and a benchmark of 304s must not quietly
 * measure 200s. Only 127.0.0.1 / localhost.
 */
export async function collectValidators(
  url: string,
  paths: Iterable<string>,
  options: { concurrency?: number } = {},
): Promise<NonNullable<LoadPlan['headersByPath']>> {
  checkLocal(url);
  const todo = [...new Set(paths)];
  const headersByPath: Record<string, Record<string, string>> = {};
  const worker = async () => {
    for (let path = todo.pop(); path !== undefined; path = todo.pop()) {
      const res = await fetch(url + path);
      await res.arrayBuffer();
      const etag = res.headers.get('etag');
      if (res.status !== 200 || !etag) {
        throw new TypeError(
          `collectValidators: GET ${path} answered ${res.status} ${etag ? 'with' : 'without'} an ETag; a revalidating client needs a 200 with one.`,
        );
      }
      headersByPath[path] = { 'If-None-Match': etag };
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 10 }, worker));
  return headersByPath;
}
