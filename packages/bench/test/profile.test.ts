import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuProfileFlags } from '../src/cpu-profile.ts';
import { type ProfileEntry, summarizeProfile } from '../src/profile.ts';

const run = promisify(execFile);
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const FIXTURE = fileURLToPath(new URL('./fixtures/two-anonymous.ts', import.meta.url));
const FILE = 'packages/bench/test/fixtures/two-anonymous.ts';
const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

/**
 * Run the fixture under tsx with these flags; the entries of every profile it wrote (`--cpu-prof`
 * writes one per thread, tsx's loader's too, which may be the largest).
 */
async function profileFixture(flags: (dir: string) => string[]): Promise<ProfileEntry[]> {
  const dir = await mkdtemp(join(tmpdir(), 'cachelab-profile-'));
  dirs.push(dir);
  await run(process.execPath, ['--import', TSX, ...flags(dir), FIXTURE]);
  const files = await readdir(dir);
  expect(files, `no profile was written into ${dir}`).not.toHaveLength(0);
  const summaries = await Promise.all(files.map((f) => summarizeProfile(join(dir, f))));
  return summaries.flatMap((s) => s.entries);
}

const fixtureEntries = (entries: ProfileEntry[]) =>
  entries.filter((e) => e.name.includes(`(${FILE}:`) && e.totalMs > 0).map((e) => e.name);

describe('CPU profiles of TypeScript run by tsx', () => {
  it('name each function by its line in the .ts file, two anonymous functions as two entries', async () => {
    const names = fixtureEntries(await profileFixture(cpuProfileFlags));
    // tsx compiles the fixture to one line: without its source map every name would end in ":1)".
    expect(names).toContain(`(anonymous) (${FILE}:18)`);
    expect(names).toContain(`(anonymous) (${FILE}:19)`);
    expect(names).toContain(`work (${FILE}:4)`);
    expect(names).toContain(`run (${FILE}:10)`);
  });

  it('tell functions apart by column in a plain --cpu-prof profile, whose lines are the compiled code’s', async () => {
    const names = fixtureEntries(await profileFixture((dir) => ['--cpu-prof', `--cpu-prof-dir=${dir}`]));
    // The module's top level and the two arrow functions: three anonymous functions on line 1.
    const anonymous = names.filter((n) => n.startsWith(`(anonymous) (${FILE}:1:`));
    expect(anonymous, `entries: ${names.join(', ')}`).toHaveLength(3);
  });
});
