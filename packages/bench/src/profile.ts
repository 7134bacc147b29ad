import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from './output.ts';

/**
 * Read a V8 CPU profile and say where the time went: self time per function (the time the
 * CPU was *in* that function's own code) and total time (self + everything it called), as
 * milliseconds and as a share of the samples. Functions are named `name (file:line)`, files
 * relative to the repository; where two functions share that name (two arrow functions on one
 * line, or a profile whose positions are tsx's compiled code), `:column` is added.
 *
 * Lines are the TypeScript source's in a profile taken with `cpuProfileFlags()`
 * (cpu-profile.ts maps each frame through the process's source maps). In one from
 * `node --cpu-prof` of a tsx-run process they are the compiled code's, where a whole file is
 * line 1: the column then tells its functions apart, and no more.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
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

/** One function: its name, file (relative to the repository) and 1-based line and column. */
interface FunctionId {
  key: string;
  label: string;
  column: number;
}

function identify(node: ProfileNode): FunctionId {
  const { functionName, url, lineNumber, columnNumber = -1 } = node.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return { key: name, label: name, column: -1 };
  let file = url;
  try {
    file = url.startsWith('file:') ? relative(REPO_ROOT, fileURLToPath(url)) : url;
  } catch {
    // keep the URL as it is
  }
  file = file.replace(/^node_modules\//, '');
  // A frame V8 met before it had a position (a module being evaluated as profiling began).
  if (lineNumber < 0) return { key: `${name} (${file})`, label: `${name} (${file})`, column: -1 };
  const label = `${name} (${file}:${lineNumber + 1})`;
  return { key: `${label}:${columnNumber}`, label, column: columnNumber + 1 };
}

/** Each function's name: its label, with `:column` where another function has the same label. */
function nameFunctions(nodes: ProfileNode[]): Map<number, string> {
  const ids = new Map(nodes.map((n) => [n.id, identify(n)]));
  const keysByLabel = new Map<string, Set<string>>();
  for (const { key, label } of ids.values()) keysByLabel.set(label, (keysByLabel.get(label) ?? new Set()).add(key));
  const names = new Map<number, string>();
  for (const [id, { label, column }] of ids) {
    const shared = (keysByLabel.get(label)?.size ?? 0) > 1 && column > 0;
    names.set(id, shared ? `${label.slice(0, -1)}:${column})` : label);
  }
  return names;
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

  const names = nameFunctions(profile.nodes);
  const describe = (node: ProfileNode) => names.get(node.id) as string;
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
