import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { STATE_DIR } from './repo.ts';

/**
 * The learner's progress: a plain JSON file in the git-ignored `.cachelab/` folder, no
 * account, easy to read, delete or copy to another machine.
 */
export interface Progress {
  version: 1;
  /** exercise id → ISO time it first passed `cachelab verify` */
  solved: Record<string, string>;
  /**
   * exercise id → ISO time its stretch tests first passed (`cachelab verify NN --stretch`, with
   * the main tests). Beside `solved`, never instead of it. Absent from older progress files.
   */
  stretch: Record<string, string>;
  /** exercise id → hints shown so far */
  hints: Record<string, number>;
  /** lesson id → ISO time it was last read or run */
  visited: Record<string, string>;
  /**
   * lesson id → step number ('1' is the README, lesson-steps.ts) → ISO time it was last read.
   * Absent from progress files written before lessons had steps: they load with none read.
   */
  visitedSteps: Record<string, Record<string, string>>;
  /** lesson id → the best score of its quiz (`cachelab quiz NN`) and the last one */
  quizzes: Record<string, QuizRecord>;
}

export interface QuizScore {
  /** Questions answered right. */
  score: number;
  /** Questions the quiz had then (quizzes grow: a score is always read with its total). */
  of: number;
  /** ISO time. */
  at: string;
}

/** The best attempt (the first to reach that ratio) and the most recent one. */
export interface QuizRecord extends QuizScore {
  last: QuizScore;
}

export const PROGRESS_FILE = join(STATE_DIR, 'progress.json');

export function loadProgress(file: string = PROGRESS_FILE): Progress {
  const empty: Progress = {
    version: 1,
    solved: {},
    stretch: {},
    hints: {},
    visited: {},
    visitedSteps: {},
    quizzes: {},
  };
  if (!existsSync(file)) return empty;
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<Progress>;
    const steps = data.visitedSteps;
    const stretch = data.stretch;
    return {
      ...empty,
      ...data,
      visitedSteps: steps && typeof steps === 'object' && !Array.isArray(steps) ? steps : {},
      stretch: stretch && typeof stretch === 'object' && !Array.isArray(stretch) ? stretch : {},
      version: 1,
    };
  } catch {
    return empty;
  }
}

/** The steps of a lesson read so far, in order (numbers). */
export function stepsRead(progress: Progress, lessonId: string): number[] {
  return Object.keys(progress.visitedSteps[lessonId] ?? {})
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
}

/** Write atomically (temp file + rename): a Ctrl-C mid-write never corrupts progress. */
export function saveProgress(progress: Progress, file: string = PROGRESS_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(progress, null, 2)}\n`);
  renameSync(tmp, file);
}

export function updateProgress(change: (p: Progress) => void, file: string = PROGRESS_FILE): Progress {
  const p = loadProgress(file);
  change(p);
  saveProgress(p, file);
  return p;
}

/** Record a quiz attempt; keeps the best score (by ratio, the earliest on a tie) and the last. */
export function recordQuiz(lessonId: string, attempt: QuizScore, file: string = PROGRESS_FILE): QuizRecord {
  let record: QuizRecord | undefined;
  updateProgress((p) => {
    const before = p.quizzes[lessonId];
    const better = !before || attempt.score * before.of > before.score * attempt.of;
    const best = better ? attempt : { score: before.score, of: before.of, at: before.at };
    record = { ...best, last: attempt };
    p.quizzes[lessonId] = record;
  }, file);
  return record as QuizRecord;
}
