import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from '@cachelab/testkit';
import { UserError, warn } from '../output.ts';
import { updateProgress } from '../progress.ts';
import { findLesson, listLessons } from '../repo.ts';
import { readServiceNeeds } from '../services.ts';
import { requireServices } from './doctor.ts';

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Start a lesson's server (its src/main.ts) with its live request log. The port is --port,
 * else PORT, else 3000 — or a free one when 3000 is taken and none was asked for.
 *
 * Only the services the lesson uses are checked (`cachelab.services` in its package.json):
 * PostgreSQL down is a refusal naming the fix; Redis down is a refusal only for a lesson
 * whose server cannot start without it (04 onwards), and a warning for one that answers
 * from PostgreSQL meanwhile (03: X-Cache: BYPASS), since that is what such a lesson teaches.
 * The database is created and seeded first if it is not yet.
 */
export async function runLesson(query: string, options: { port?: string }): Promise<number> {
  const lesson = findLesson(query);
  if (!lesson) {
    throw new UserError(
      `There is no lesson "${query}". Lessons: ${listLessons()
        .map((l) => l.id)
        .join(', ')}.`,
      2,
    );
  }
  const main = join(lesson.dir, 'src', 'main.ts');
  if (!existsSync(main)) throw new UserError(`Lesson ${lesson.id} has no server to run (no src/main.ts).`);
  const asked = options.port ?? process.env.PORT;
  let port = asked === undefined ? 3000 : Number(asked);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UserError(`--port must be 0–65535, got "${asked}".`, 2);
  if (!(await portFree(port))) {
    // A port asked for is the learner's choice: say it is taken (the words the lesson's own
    // serveLesson uses, which still catches a port taken between this check and its listen).
    if (asked !== undefined)
      throw new UserError(`Port ${port} is already in use. Pick another: --port ${port + 1} (or PORT=${port + 1}).`);
    const other = await freePort();
    warn(`Port ${port} is busy; using ${other} instead (ask for one with --port).`);
    port = other;
  }
  await requireServices(readServiceNeeds(lesson.dir), {
    who: `lesson ${lesson.id}`,
    optionalMeans:
      'answers that would come from Redis will be X-Cache: BYPASS (from PostgreSQL) until Redis is back, then it caches again by itself',
  });
  updateProgress((p) => {
    p.visited[lesson.id] = new Date().toISOString();
  });
  const child = spawn(process.execPath, ['--import', 'tsx', main, '--port', String(port)], {
    cwd: lesson.dir,
    stdio: 'inherit',
    env: { ...process.env, PORT: String(port) },
  });
  // Ctrl-C reaches the child through the terminal's process group; it closes cleanly.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', () => {});
  process.on('SIGTERM', forward);
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
}
