import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lesson } from './repo.ts';

/**
 * A lesson longer than 2,000 words is read in short steps (issue 17 item 1):
 *
 *     lessons/05-invalidation/README.md                    step 1   npx cachelab read 05
 *     lessons/05-invalidation/steps/2-delete-on-write.md   step 2   npx cachelab read 05.2
 *     lessons/05-invalidation/steps/3-versions-and-tags.md step 3   npx cachelab read 05.3
 *     lessons/05-invalidation/appendix.md                  methodology, linked from a step
 *
 * A lesson without a steps/ folder is one step, its README. Which steps a lesson has comes
 * from the folder listing alone (the home screen shows them and must stay fast); a step's
 * title from its first line, `# Lesson 05, step 2 — Delete on write` (read only when shown).
 * The rest of the convention, and its lint, is in commands/check.ts (lintLessonTexts).
 */

export const STEPS_DIR = 'steps';
export const APPENDIX_FILE = 'appendix.md';

/** `2-delete-on-write.md`: the step's number and slug. */
export const STEP_FILE = /^(\d+)-([a-z0-9]+(?:-[a-z0-9]+)*)\.md$/;

export interface Step {
  /** 1 for the README, 2… for steps/M-slug.md. */
  number: number;
  /** `README.md` or `steps/2-delete-on-write.md`, relative to the lesson's folder. */
  file: string;
  path: string;
}

/**
 * A lesson's steps in order: its README, then each `steps/M-slug.md` by number (files of
 * steps/ with another name are not steps; the lint names them). Only lists folders.
 */
export function listSteps(lesson: Pick<Lesson, 'dir'>): Step[] {
  const steps: Step[] = [{ number: 1, file: 'README.md', path: join(lesson.dir, 'README.md') }];
  const dir = join(lesson.dir, STEPS_DIR);
  if (!existsSync(dir)) return steps;
  const found = readdirSync(dir).flatMap((name) => {
    const m = STEP_FILE.exec(name);
    return m ? [{ number: Number(m[1]), file: `${STEPS_DIR}/${name}`, path: join(dir, name) }] : [];
  });
  found.sort((a, b) => a.number - b.number || a.file.localeCompare(b.file));
  return [...steps, ...found];
}

/** How many steps a lesson has, from the folder listing alone (1 without steps/). */
export function stepCount(lesson: Pick<Lesson, 'dir'>): number {
  return listSteps(lesson).length;
}

/** The step a file of the lesson is: `README.md` 1, `steps/3-x.md` 3; undefined for other files. */
export function stepOfFile(file: string): number | undefined {
  const normalized = file.replace(/^\.\//, '');
  if (normalized === 'README.md' || normalized === '') return 1;
  const m = /^steps\/(.+)$/.exec(normalized);
  const step = m ? STEP_FILE.exec(m[1] as string) : null;
  return step ? Number(step[1]) : undefined;
}

/**
 * The first line of a step file as the convention writes it: `# Lesson 05 — Title` (README)
 * or `# Lesson 05, step 2 — Title`. undefined when the line has another shape.
 */
export function parseStepTitleLine(line: string): { lesson: string; step: number; title: string } | undefined {
  const m = /^#\s+Lesson\s+(\d+)(?:,\s+step\s+(\d+))?\s+—\s+(\S.*?)\s*$/.exec(line);
  if (!m) return undefined;
  return { lesson: m[1] as string, step: m[2] ? Number(m[2]) : 1, title: m[3] as string };
}

/**
 * A step's title: from its first line (`# Lesson 05, step 2 — Delete on write` → `Delete on
 * write`), else its first heading, else its slug in words. Step 1's is the one the README's
 * Steps line gives it (`**Steps:** 1. A TTL per kind of data (this page) · …`), else the
 * lesson's title. Reads the file.
 */
export function stepTitle(step: Step): string {
  const slug = STEP_FILE.exec(step.file.replace(/^steps\//, ''))?.[2];
  const fallback = slug ? slug.replaceAll('-', ' ') : 'the lesson';
  if (!existsSync(step.path)) return fallback;
  const text = readFileSync(step.path, 'utf8');
  const own = step.number === 1 ? /^\*\*Steps:?\*\*:?\s*1\.\s+(.+?)\s+\(this page\)/m.exec(text)?.[1] : undefined;
  if (own) return own;
  const first = text.split('\n', 1)[0] ?? '';
  const parsed = parseStepTitleLine(first.trim());
  if (parsed) return parsed.title;
  const heading = /^#\s+(.+)$/m.exec(text)?.[1]?.trim();
  return heading ?? fallback;
}

/** The command that shows step `n` of a lesson: `npx cachelab read 05` (step 1) or `… read 05.2`. */
export function readCommand(lessonId: string, n: number): string {
  return n === 1 ? `npx cachelab read ${lessonId}` : `npx cachelab read ${lessonId}.${n}`;
}

/**
 * What `cachelab read` was asked for: `05`, `5`, `05-invalidation` → the lesson; `05.2`, `5.2`,
 * `05.02` → its step 2. The lesson part is left for findLesson to resolve.
 */
export function parseReadQuery(query: string): { lesson: string; step?: number } {
  const m = /^\s*(\d+)\.(\d+)\s*$/.exec(query);
  if (m) return { lesson: m[1] as string, step: Number(m[2]) };
  return { lesson: query };
}
