import { existsSync, type FSWatcher, statSync, watch } from 'node:fs';
import { basename, join } from 'node:path';
import { listFiles } from './runner/workspace.ts';

/**
 * Tell when the learner saves a file under `dir`.
 *
 * Two ways, because file events do not arrive everywhere:
 *  - `events` (default): `fs.watch` on the folder, recursive. Watching the folder, not each
 *    file, also catches editors that save by writing a temporary file and renaming it.
 *  - `poll`: compare every file's size and mtime every `intervalMs`. For network drives,
 *    Docker bind mounts and VMs where events never come (`--poll`), and automatically
 *    when `fs.watch` cannot start or fails (too many watchers, unsupported file system).
 *
 * Editors' scratch files (`.swp`, `~` backups, dotfiles, vim's `4913`) are ignored. Several
 * events in a burst (one save is often two or three) become one call, `debounceMs` after
 * the last of them.
 */
export interface SrcWatcher {
  readonly mode: 'events' | 'poll';
  close(): void;
}

export interface WatchSrcOptions {
  poll?: boolean;
  /** Poll interval, ms. Default 500. */
  intervalMs?: number;
  /** Quiet time after the last event before `onChange`, ms. Default 120. */
  debounceMs?: number;
  /** Called when events failed and polling took over. */
  onFallback?(reason: string): void;
}

const SCRATCH = /^\.|~$|\.sw[a-p]$|^4913$|\.tmp$/;

export function isScratchFile(name: string): boolean {
  return SCRATCH.test(basename(name));
}

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of listFiles(dir)) {
    if (isScratchFile(f)) continue;
    try {
      const s = statSync(join(dir, f));
      out.set(f, `${s.size}:${s.mtimeMs}`);
    } catch {
      // deleted between the listing and the stat: the next poll sees it gone
    }
  }
  return out;
}

export function watchSrc(dir: string, onChange: (file: string) => void, options: WatchSrcOptions = {}): SrcWatcher {
  const intervalMs = options.intervalMs ?? 500;
  const debounceMs = options.debounceMs ?? 120;
  let timer: NodeJS.Timeout | undefined;
  let pending = '';
  let closed = false;
  const changed = (file: string) => {
    if (closed || isScratchFile(file)) return;
    pending = file;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!closed) onChange(pending);
    }, debounceMs);
  };

  let watcher: FSWatcher | undefined;
  let poller: NodeJS.Timeout | undefined;
  let mode: 'events' | 'poll' = 'poll';

  const startPolling = () => {
    mode = 'poll';
    let before = snapshot(dir);
    poller = setInterval(() => {
      const now = snapshot(dir);
      for (const [f, sig] of now) if (before.get(f) !== sig) changed(f);
      for (const f of before.keys()) if (!now.has(f)) changed(f);
      before = now;
    }, intervalMs);
  };

  if (!options.poll && existsSync(dir)) {
    try {
      watcher = watch(dir, { recursive: true }, (_event, file) => changed(String(file ?? '')));
      watcher.on('error', (err) => {
        watcher?.close();
        watcher = undefined;
        if (closed) return;
        options.onFallback?.(err.message);
        startPolling();
      });
      mode = 'events';
    } catch (err) {
      options.onFallback?.(err instanceof Error ? err.message : String(err));
      startPolling();
    }
  } else {
    startPolling();
  }

  return {
    get mode() {
      return mode;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(poller);
      watcher?.close();
    },
  };
}
