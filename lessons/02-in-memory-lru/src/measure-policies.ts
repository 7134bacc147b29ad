import { cpus, loadavg } from 'node:os';
import { profileSequence, zipfSequence } from '@cachelab/bench/zipf';
import { createPolicyCache, POLICIES, type PolicyName, replay, withSweep } from './eviction-policies.ts';

/**
 * Which entry should a full cache evict? LRU (lru-cache), LFU (./lfu-cache.ts) and W-TinyLFU
 * (transitory) replay the same requests: the bench's Zipf sequence (packages/bench's
 * zipfSequence, as `npm run bench` and lesson 09 ask for employees: s = 1 over 10,000 keys,
 * seed 42), cache-aside (get; on a miss, set), at several cache sizes. Then the same
 * traffic with a one-off sweep in the middle: every key once, in order, as an export job or a
 * crawler reads every employee, and the hit ratio of the Zipf requests just after it. Last,
 * popularity that moves: half-way, the traffic goes on with the same Zipf shape over other hot
 * keys (another seed), and what each policy hits after the change.
 *
 *     npx tsx lessons/02-in-memory-lru/src/measure-policies.ts
 *
 * No server and no database: a hit ratio depends on the keys and the policy only, so the
 * replay runs in memory and prints the same table on every machine (W-TinyLFU's admission
 * has a 1-in-1,000 random part: its last digit may move).
 *
 * With `--json`, the text goes to stderr and stdout gets the figures below as one JSON object
 * (what `npm run figures` compares with the lesson's text).
 */
export const FIGURES = [
  'requests',
  'keys',
  'distinct',
  'top1Pct',
  'ceilingPct',
  'size{100,500,1000,2500}.{lru,lfu,tiny}',
  'sweep.{size,keys,at,window}',
  'sweep.{lru,lfu,tiny}.{withoutPct,withPct}',
  'shift.{at,window,seed}',
  'shift.{lru,lfu,tiny}.{firstPct,allPct}',
];
const json = process.argv.includes('--json');
const say = json ? console.error : console.log;

const KEYS = 10_000;
const REQUESTS = 200_000;
const SIZES = [100, 500, 1_000, 2_500];
const SHORT: Record<PolicyName, 'lru' | 'lfu' | 'tiny'> = { LRU: 'lru', LFU: 'lfu', 'W-TinyLFU': 'tiny' };

const traffic = zipfSequence({ keys: KEYS, count: REQUESTS, s: 1, seed: 42 });
const shape = profileSequence(traffic);
const figures: Record<string, unknown> = {
  requests: REQUESTS,
  keys: KEYS,
  distinct: shape.distinct,
  top1Pct: 100 * shape.top1PercentShare,
  ceilingPct: 100 * shape.coldHitRatioCeiling,
};
const int = (n: number) => n.toLocaleString('en-US');
const pct = (n: number) => `${n.toFixed(1)} %`;
const pad = (s: string, n: number) => s.padStart(n);

say(
  `Zipf s = 1 over ${int(KEYS)} keys, ${int(REQUESTS)} requests (seed 42): ${int(shape.distinct)} distinct keys, the top 1% get ${pct(100 * shape.top1PercentShare)} of the requests.`,
);
say(
  `A cache that never evicts hits ${pct(100 * shape.coldHitRatioCeiling)} (every distinct key misses once). Hit ratio of every request, from cold:\n`,
);
say('| cache size (entries) |    LRU |    LFU | W-TinyLFU |');
say('| -------------------: | -----: | -----: | --------: |');
for (const size of SIZES) {
  const row: Record<string, number> = {};
  for (const policy of POLICIES) {
    const result = replay(createPolicyCache(policy, size), traffic);
    if (result.maxSize > size) throw new Error(`${policy} held ${result.maxSize} entries, over its size ${size}`);
    row[SHORT[policy]] = result.hitPct;
  }
  figures[`size${size}`] = row;
  say(
    `| ${pad(`${int(size)} (${((100 * size) / KEYS).toFixed(0)} %)`, 20)} | ${pad(pct(row.lru as number), 6)} | ${pad(pct(row.lfu as number), 6)} | ${pad(pct(row.tiny as number), 9)} |`,
  );
}

// The sweep: every key once, in order, half-way through the traffic.
const SWEEP_SIZE = 1_000;
const AT = REQUESTS / 2;
const WINDOW = 1_000;
const sweep = Array.from({ length: KEYS }, (_, i) => i + 1);
const swept = withSweep(traffic, AT, sweep);
figures.sweep = { size: SWEEP_SIZE, keys: sweep.length, at: AT, window: WINDOW };
say(
  `\nA sweep: after request ${int(AT)}, every one of the ${int(KEYS)} keys once, in order. Cache of ${int(SWEEP_SIZE)} entries;`,
);
say(`hit ratio of the ${int(WINDOW)} Zipf requests that follow, and of the same requests without the sweep:\n`);
say('| policy    | without the sweep | after the sweep |');
say('| --------- | ----------------: | --------------: |');
for (const policy of POLICIES) {
  const without = replay(createPolicyCache(policy, SWEEP_SIZE), traffic, AT, AT + WINDOW);
  const withIt = replay(createPolicyCache(policy, SWEEP_SIZE), swept, AT + KEYS, AT + KEYS + WINDOW);
  (figures.sweep as Record<string, unknown>)[SHORT[policy]] = { withoutPct: without.hitPct, withPct: withIt.hitPct };
  say(`| ${policy.padEnd(9)} | ${pad(pct(without.hitPct), 17)} | ${pad(pct(withIt.hitPct), 15)} |`);
}
// Popularity moves: the first half of the traffic, then Zipf traffic of another seed (the same
// shape, but other keys are hot).
const SHIFT_AT = REQUESTS / 2;
const SHIFT_WINDOW = 10_000;
const SHIFT_SEED = 7;
const moved = [
  ...traffic.slice(0, SHIFT_AT),
  ...zipfSequence({ keys: KEYS, count: REQUESTS - SHIFT_AT, s: 1, seed: SHIFT_SEED }),
];
figures.shift = { at: SHIFT_AT, window: SHIFT_WINDOW, seed: SHIFT_SEED };
say(
  `\nPopularity moves: after request ${int(SHIFT_AT)}, the traffic goes on with seed ${SHIFT_SEED} (the same Zipf shape, other hot keys).`,
);
say(
  `Cache of ${int(SWEEP_SIZE)} entries; hit ratio of the ${int(SHIFT_WINDOW)} requests after the change, and of all ${int(REQUESTS - SHIFT_AT)}:\n`,
);
say('| policy    | first 10,000 | all 100,000 |');
say('| --------- | -----------: | ----------: |');
for (const policy of POLICIES) {
  const first = replay(createPolicyCache(policy, SWEEP_SIZE), moved, SHIFT_AT, SHIFT_AT + SHIFT_WINDOW);
  const all = replay(createPolicyCache(policy, SWEEP_SIZE), moved, SHIFT_AT);
  (figures.shift as Record<string, unknown>)[SHORT[policy]] = { firstPct: first.hitPct, allPct: all.hitPct };
  say(`| ${policy.padEnd(9)} | ${pad(pct(first.hitPct), 12)} | ${pad(pct(all.hitPct), 11)} |`);
}
say(
  `\nLoad average: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')} (${cpus().length} CPUs; it does not change the table)`,
);
if (json) console.log(JSON.stringify(figures));
