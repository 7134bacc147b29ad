import { serveLesson } from '@cachelab/lesson-01-uncached/serve';
import { createApp } from './app.ts';
import { isStoreKind, type OpenedStore, openStore, STORE_KINDS } from './stores.ts';

// npx tsx lessons/06-custom-backends/src/main.ts --port 3160 --store postgres
// The store: --store <name> or CACHE_STORE=<name>, one of memory, redis, two-level, postgres (default memory).
const flag = process.argv.findIndex((a) => a === '--store' || a.startsWith('--store='));
const raw =
  (flag >= 0
    ? process.argv[flag]?.includes('=')
      ? process.argv[flag]?.split('=')[1]
      : process.argv[flag + 1]
    : process.env.CACHE_STORE) || 'memory';
if (!isStoreKind(raw)) {
  console.error(`✗ Unknown store "${raw}". Pick one of: ${STORE_KINDS.join(', ')}.`);
  process.exit(2);
}
const kind = raw;
let opened: OpenedStore | undefined;

await serveLesson({
  lesson: `06-custom-backends (store: ${kind})`,
  async createApp({ db }) {
    try {
      opened = await openStore(kind, { db, namespace: 'cachelab:06:' });
    } catch (err) {
      console.error(`✗ Could not open the ${kind} store: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    }
    return createApp({ db, store: opened.store });
  },
  close: async () => {
    await opened?.close();
  },
});
