import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradeSubmissions } from '../src/grade/grade.ts';
import { readResult } from '../src/grade/store.ts';
import { listExercises } from '../src/repo.ts';
import { probeSandbox } from '../src/runner/sandbox.ts';

/**
 * The course's own exercises, graded the way a class is: in the sandbox, with the run's own
 * PostgreSQL role and Redis user behind the proxies, tripwires planted, the manifest checked.
 * A student who hands in every reference solution gets full marks; one who hands in the
 * untouched starters gets 0 (the tests a starter passes are given, worth nothing).
 */
const sandbox = probeSandbox();
const exercises = listExercises();
const work = mkdtempSync(join(tmpdir(), 'cachelab-course-'));
const out = join(work, 'grades');
afterAll(() => rmSync(work, { recursive: true, force: true }));

function student(id: string, from: (e: (typeof exercises)[number]) => string): string {
  const dir = join(work, 'class', id);
  for (const e of exercises) {
    mkdirSync(join(dir, 'exercises', e.name), { recursive: true });
    cpSync(from(e), join(dir, 'exercises', e.name, 'src'), { recursive: true });
  }
  return dir;
}

describe.skipIf(!sandbox.available)(
  `every exercise of the course, graded in the sandbox (${sandbox.reason ?? 'bwrap'})`,
  () => {
    let csv = '';
    beforeAll(async () => {
      const sources = [
        student('solutions', (e) => join(e.solutionDir, 'src')),
        student('starters', (e) => join(e.dir, 'src')),
      ];
      const outcome = await gradeSubmissions({ sources, out, requireSandbox: true });
      expect(outcome.manifest.sandbox).toEqual({ sandboxed: true });
      csv = readFileSync(join(out, 'gradebook.csv'), 'utf8');
    }, 600_000);

    it('gives the reference solutions full marks on every exercise, without a flag', () => {
      const max = exercises.reduce((sum, e) => sum + e.points, 0);
      const row = csv.split('\r\n').find((line) => line.startsWith('solutions,')) ?? '';
      for (const e of exercises) {
        const result = readResult(out, 'solutions', e.name);
        expect(result?.status, `${e.name}: ${result?.message}\n${result?.output}`).toBe('pass');
        expect(result?.integrity).toBeUndefined();
        expect(result?.sandboxed).toBe(true);
      }
      expect(row).toContain(`,${max.toFixed(2)},${max.toFixed(2)},`);
    });

    it('gives the untouched starters 0 on every exercise: what they pass is given', () => {
      const max = exercises.reduce((sum, e) => sum + e.points, 0);
      const row = csv.split('\r\n').find((line) => line.startsWith('starters,')) ?? '';
      expect(row).toContain(`,0.00,${max.toFixed(2)},`);
      for (const e of exercises) {
        const result = readResult(out, 'starters', e.name);
        expect(result?.integrity, `${e.name}: ${JSON.stringify(result?.integrity)}`).toBeUndefined();
        expect(result?.status).toBe('fail');
      }
    });
  },
);
