import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../output.ts';
import { writeReports } from './reports/write.ts';
import { MANIFEST, readManifest, readResult, writeManifest } from './store.ts';
import { compareIds } from './submissions.ts';
import type { Manifest } from './types.ts';

export interface MergeOutcome {
  out: string;
  manifest: Manifest;
  /** Ids of the batch that no merged output graded (a shard not merged, or interrupted). */
  missing: string[];
}

/**
 * Combine the outputs of `cachelab grade --shard i/n` (or of any batches graded against the
 * same exercises) into one output folder and write its reports. Steps:
 *  1. read every folder's grade.json; they must agree on the exercises and points, on the
 *     scoring mode, and on the tests each exercise was graded on (the pinned tests'
 *     fingerprints), or the gradebook would add apples and pears;
 *  2. copy each folder's graded submissions (<id>/) into `out`;
 *  3. write a manifest covering them all, then the reports — the same code as an
 *     unsharded run, so the gradebook is the same.
 */
export function mergeOutputs(dirs: string[], outDir: string): MergeOutcome {
  if (dirs.length === 0) throw new UserError('Nothing to merge: name the output folders of the shards.', 2);
  const out = resolve(outDir);
  const inputs = dirs.map((d) => {
    const dir = resolve(d);
    const manifest = readManifest(dir);
    if (!manifest)
      throw new UserError(`${d} is not a grading output (no ${MANIFEST}). Pass the --out folders of the shards.`, 2);
    return { dir, manifest };
  });
  const first = inputs[0]?.manifest as Manifest;
  const shape = (m: Manifest) => m.exercises.map((e) => `${e.name}:${e.points}`).join(',');
  for (const { dir, manifest } of inputs.slice(1)) {
    if (shape(manifest) !== shape(first))
      throw new UserError(
        `${dir} graded other exercises (${shape(manifest)}) than ${inputs[0]?.dir} (${shape(first)}). Merge outputs of the same batch.`,
        2,
      );
    if (manifest.allOrNothing !== first.allOrNothing)
      throw new UserError(
        `${dir} was graded ${manifest.allOrNothing ? 'all-or-nothing' : 'with partial credit'} and ${inputs[0]?.dir} was not. Grade both the same way.`,
        2,
      );
  }
  const pinned = inputs.map(({ dir, manifest }) => ({ dir, tests: pinnedTests(dir, manifest) }));
  for (const exercise of first.exercises) {
    const graded = pinned.filter((p) => p.tests.has(exercise.name));
    const a = graded[0];
    const b = graded.find((p) => p.tests.get(exercise.name) !== a?.tests.get(exercise.name));
    if (a && b)
      throw new UserError(
        `${exercise.name} was graded on different tests in ${a.dir} and in ${b.dir} (fingerprints ${a.tests.get(exercise.name)?.slice(0, 12)}… and ${b.tests.get(exercise.name)?.slice(0, 12)}…). Grade every shard against the same copy of the workshop, then merge.`,
        2,
      );
  }
  mkdirSync(out, { recursive: true });
  const sources = new Map<string, string>();
  const graded = new Set<string>();
  for (const { dir, manifest } of inputs) {
    for (const s of manifest.all) sources.set(s.id, s.source);
    for (const id of manifest.graded) {
      graded.add(id);
      if (dir !== out && existsSync(join(dir, id))) cpSync(join(dir, id), join(out, id), { recursive: true });
    }
  }
  const all = [...sources].map(([id, source]) => ({ id, source })).sort((a, b) => compareIds(a.id, b.id));
  const manifest: Manifest = {
    version: 1,
    root: first.root,
    exercises: first.exercises,
    all,
    graded: [...graded].sort(compareIds),
    allOrNothing: first.allOrNothing,
    shard: null,
    pinned: Object.fromEntries(
      first.exercises.flatMap((e) => {
        const fingerprint = pinned.find((p) => p.tests.has(e.name))?.tests.get(e.name);
        return fingerprint ? [[e.name, fingerprint]] : [];
      }),
    ),
    mergedFrom: inputs.map((i) => i.dir),
    startedAt: inputs
      .map((i) => i.manifest.startedAt)
      .sort()
      .at(0) as string,
    finishedAt: new Date().toISOString(),
  };
  writeManifest(out, manifest);
  writeReports(out);
  return { out, manifest, missing: all.filter((s) => !graded.has(s.id)).map((s) => s.id) };
}

/**
 * Per exercise, the fingerprint of the tests an output was graded on: from its manifest, or —
 * for outputs of graders that did not record it — from the results it stores.
 */
function pinnedTests(dir: string, manifest: Manifest): Map<string, string> {
  const tests = new Map(Object.entries(manifest.pinned ?? {}));
  for (const exercise of manifest.exercises) {
    if (tests.has(exercise.name)) continue;
    for (const id of manifest.graded) {
      const fingerprint = readResult(dir, id, exercise.name)?.fingerprint.pristine;
      if (fingerprint) {
        tests.set(exercise.name, fingerprint);
        break;
      }
    }
  }
  return tests;
}
