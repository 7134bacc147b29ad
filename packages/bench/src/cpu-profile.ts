import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { findSourceMap } from 'node:module';
import { join } from 'node:path';

/**
 * A CPU profiler to preload in a process run by tsx, in place of `node --cpu-prof`:
 *
 *   node --import tsx --import "<cpuProfileFlags(dir)>" app.ts
 *
 * Why not `--cpu-prof`: tsx compiles every TypeScript file to one line, so V8's profile names
 * every function of `app.ts` as line 1, and the profile alone cannot be mapped back (the
 * compiled code and its inline source map lived only in that process). This module profiles
 * the main thread through `node:inspector` (the same sampler `--cpu-prof` uses, every 1,000 µs,
 * its default), and when the process exits it maps each call frame's position through the
 * source map the process holds (`module.findSourceMap`, which tsx turns on), then writes
 * `CPU.<time>.<pid>.cpuprofile` into the folder given as `?dir=` on this module's URL. A frame
 * whose position has no mapping (a module's top level, plain JavaScript) keeps V8's.
 *
 * The profile is written on a normal exit only (`process.exit()`, the event loop ending), as
 * with `--cpu-prof`: a process killed by a signal writes nothing. Mapping costs one lookup per
 * profile node at exit, a few milliseconds.
 */

const SAMPLING_INTERVAL_US = 1000;

/** The `execArgv` that profiles a tsx-run process into `dir` (tsx must be imported first). */
export function cpuProfileFlags(dir: string): string[] {
  const url = new URL(import.meta.url);
  url.searchParams.set('dir', dir);
  return ['--import', url.href];
}

interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

/** Rewrite each frame's url, line and column (0-based) to the TypeScript source's, where the process's source map says. */
function mapFrames(nodes: { callFrame: CallFrame }[]): void {
  const maps = new Map<string, ReturnType<typeof findSourceMap>>();
  for (const { callFrame } of nodes) {
    const { url, lineNumber, columnNumber } = callFrame;
    if (!url.startsWith('file:') || lineNumber < 0) continue;
    if (!maps.has(url)) maps.set(url, findSourceMap(url));
    const entry = maps.get(url)?.findEntry(lineNumber, Math.max(0, columnNumber));
    // findEntry returns {} where nothing maps, or the nearest mapping before the position.
    if (!entry || !('originalSource' in entry) || entry.generatedLine !== lineNumber) continue;
    callFrame.url = entry.originalSource;
    callFrame.lineNumber = entry.originalLine;
    callFrame.columnNumber = entry.originalColumn;
  }
}

function start(dir: string): void {
  // tsx turns source maps on; so does this, in case a loader did not (only maps of modules
  // loaded from now on are kept).
  process.setSourceMapsEnabled(true);
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
  session.post('Profiler.start');
  process.on('exit', () => {
    // A session in the same thread answers synchronously, so this runs to the end in 'exit'.
    session.post('Profiler.stop', (error, result) => {
      if (error) {
        console.error(`cpu-profile: could not stop the profiler (${error.message}); no profile written.`);
        return;
      }
      const profile = result.profile as unknown as { nodes: { callFrame: CallFrame }[] };
      mapFrames(profile.nodes);
      const time = new Date().toISOString().replace(/[-:]/g, '').replace('T', '.').slice(0, 15);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `CPU.${time}.${process.pid}.cpuprofile`), JSON.stringify(profile));
    });
    session.disconnect();
  });
}

// Imported without ?dir= (for cpuProfileFlags, through the package's index): nothing starts.
const dir = new URL(import.meta.url).searchParams.get('dir');
if (dir) start(dir);
