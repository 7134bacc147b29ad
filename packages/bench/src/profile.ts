import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './output.ts';

/**
 * Read a V8 CPU profile (`node --cpu-prof` writes one per process on exit) and say where
 * the time went: self time per function (the time the CPU was *in* that function's own
 * code) and total time (self + everything it called), as milliseconds and as a share of
 * the samples. Functions are named `name (file:line)`, files relative to the repository.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  totalMs: number;
  selfShare: number;
  totalShare: number;
}

function describe(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  let file = url;
  try {
    file = url.startsWith('file:') ? relative(REPO_ROOT, fileURLToPath(url)) : url;
  } catch {
    // keep the URL as it is
  }
  file = file.replace(/^node_modules\//, '');
  return `${name} (${file}:${lineNumber + 1})`;
}

/** Self and total time per function, largest self time first. */
export async function summarizeProfile(path: string): Promise<{ totalMs: number; entries: ProfileEntry[] }> {
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Time per sample: the delta to the next sample.
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  });
  const sampledUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idle = new Set(
    profile.nodes
      .filter((n) => ['(idle)', '(program)', '(garbage collector)'].includes(n.callFrame.functionName))
      .map((n) => n.id),
  );
  const busyUs = [...selfUs]
    .filter(([id]) => !idle.has(id) || byId.get(id)?.callFrame.functionName === '(garbage collector)')
    .reduce((a, [, v]) => a + v, 0);

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = describe(node);
    self.set(name, (self.get(name) ?? 0) + us);
    // Inclusive: once per distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (!n) break;
      const fn = describe(n);
      if (seen.has(fn)) continue;
      seen.add(fn);
      total.set(fn, (total.get(fn) ?? 0) + us);
    }
  }
  const entries = [...total.keys()].map((name) => ({
    name,
    selfMs: (self.get(name) ?? 0) / 1000,
    totalMs: (total.get(name) ?? 0) / 1000,
    selfShare: (self.get(name) ?? 0) / Math.max(1, busyUs),
    totalShare: (total.get(name) ?? 0) / Math.max(1, busyUs),
  }));
  entries.sort((a, b) => b.selfMs - a.selfMs);
  return { totalMs: sampledUs / 1000, entries };
}
