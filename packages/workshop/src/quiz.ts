import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { listSteps, readCommand, stepOfFile } from './lesson-steps.ts';
import { closestAnchor, githubSlug, readmeSections } from './markdown.ts';
import { type Lesson, REPO_ROOT } from './repo.ts';

/**
 * A lesson's "Check yourself" questions as data: `lessons/NN-slug/quiz.md`, next to the README
 * it tests. Markdown, so that a maintainer writes and reviews it as prose and GitHub shows it
 * readably (the right choice is the ticked box):
 *
 *     ## 1. Two TTLs for one employee              a question: "## N. Title", numbered 1, 2, 3 …
 *
 *     The prompt, any Markdown.
 *
 *     - [ ] a) One TTL of 60 s for the record       multiple choice: a), b) … with one [x]
 *     - [x] b) Names 12 h, status 50 s + 10 s
 *
 *     Answer: 693 ms ± 5                           or a number instead of choices: the value,
 *                                                  its unit, and a tolerance (absolute, or ± 5%)
 *     ### Why
 *
 *     Why the right answer is right, and why the tempting wrong one is wrong.
 *
 *     See: [Section title](README.md#its-anchor)   the section to re-read (checked); in a lesson
 *                                                  with steps, steps/2-slug.md#its-anchor too
 *
 * Anything before the first question (a title, notes) and every HTML comment is ignored.
 * `loadQuiz` parses the file and validates each question with zod; every problem names the
 * file and the question. `lintQuiz` adds what `cachelab check` wants on top: enough questions,
 * and See: links that point at a heading the README really has.
 */

export const QUIZ_FILE = 'quiz.md';
/** `cachelab check` wants at least this many questions per lesson. */
export const MIN_QUIZ_QUESTIONS = 4;

// ---------------------------------------------------------------------------------------------
// Units: a numeric answer may be written 86400, 86,400, 24h, 1 h 30 min, 64 MiB, 53 %.

type Dimension = 'time' | 'bytes' | 'percent';
export interface Unit {
  /** How it is printed: `ms`, `s`, `MiB`, `%`. */
  symbol: string;
  dimension: Dimension;
  /** Its size in the dimension's base (ms, bytes, percent). */
  factor: number;
}

const unit = (symbol: string, dimension: Dimension, factor: number): Unit => ({ symbol, dimension, factor });
const US = unit('µs', 'time', 0.001);
const MS = unit('ms', 'time', 1);
const S = unit('s', 'time', 1000);
const MIN = unit('min', 'time', 60_000);
const H = unit('h', 'time', 3_600_000);
const D = unit('d', 'time', 86_400_000);
const B = unit('B', 'bytes', 1);
const KB = unit('KB', 'bytes', 1e3);
const MB = unit('MB', 'bytes', 1e6);
const GB = unit('GB', 'bytes', 1e9);
const KIB = unit('KiB', 'bytes', 1024);
const MIB = unit('MiB', 'bytes', 1024 ** 2);
const GIB = unit('GiB', 'bytes', 1024 ** 3);
const PERCENT = unit('%', 'percent', 1);

/** Every spelling understood, lower-cased. */
const UNITS = new Map<string, Unit>([
  ...['µs', 'us', 'μs', 'microsecond', 'microseconds'].map((s) => [s, US] as const),
  ...['ms', 'msec', 'millisecond', 'milliseconds'].map((s) => [s, MS] as const),
  ...['s', 'sec', 'secs', 'second', 'seconds'].map((s) => [s, S] as const),
  ...['m', 'min', 'mins', 'minute', 'minutes'].map((s) => [s, MIN] as const),
  ...['h', 'hr', 'hrs', 'hour', 'hours'].map((s) => [s, H] as const),
  ...['d', 'day', 'days'].map((s) => [s, D] as const),
  ...['b', 'byte', 'bytes'].map((s) => [s, B] as const),
  ['kb', KB],
  ['mb', MB],
  ['gb', GB],
  ['kib', KIB],
  ['mib', MIB],
  ['gib', GIB],
  ['%', PERCENT],
  ['percent', PERCENT],
]);

const DIMENSION_WORD: Record<Dimension, string> = { time: 'a time', bytes: 'a size', percent: 'a percentage' };

/**
 * A number as people write it: thousands separated by `,`, `_`, `'` or a space (86,400), a
 * decimal point (2.5), and optionally a unit after each part (24h, 1 h 30 min, 64 MiB): the
 * parts are added up. Returns the value in `expected`'s unit, or a sentence saying what is wrong.
 *
 * `expected` is the question's unit: a `Unit` (answers in another unit of the same dimension are
 * converted; a bare number is taken in this unit), or a word such as `queries` (any word after
 * the number is allowed, a unit of time or size is refused), or undefined (a plain count).
 */
export function parseQuantity(text: string, expected: Unit | string | undefined): number | string {
  const cleaned = text
    .trim()
    .replace(/[\u2212\u2013]/g, '-') // a typographic minus
    .replace(/(?<=\d)[,_'\u00a0\u202f ](?=\d{3}(?!\d))/g, ''); // 86,400 · 86 400 · 1_000_000
  if (cleaned === '') return 'the answer is empty';
  if (/^\d+,\d+$/.test(cleaned)) return `"${text.trim()}": write decimals with a point (1.5), not a comma`;
  const part = /\s*([-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*([a-zA-Zµμ%]+)?/y;
  const parts: { n: number; word?: string }[] = [];
  while (part.lastIndex < cleaned.length) {
    const at = part.lastIndex;
    const m = part.exec(cleaned);
    if (!m || m.index !== at) {
      if (/^\s*$/.test(cleaned.slice(at))) break;
      return `"${text.trim()}" is not a number${unitHint(expected)}`;
    }
    parts.push({ n: Number(m[1]), ...(m[2] ? { word: m[2] } : {}) });
  }
  if (parts.length === 0) return `"${text.trim()}" is not a number${unitHint(expected)}`;
  const expectedUnit = typeof expected === 'object' ? expected : undefined;
  const [only] = parts;
  if (parts.length === 1 && only && only.word === undefined) return only.n;
  let total = 0;
  for (const { n, word } of parts) {
    if (word === undefined)
      return `"${text.trim()}": give every part a unit (1 h 30 min), or write one number${unitHint(expected)}`;
    const u = UNITS.get(word.toLowerCase()) ?? UNITS.get(word);
    if (!expectedUnit) {
      // A count (or a count of some word): a word after the number is fine, a unit is not.
      if (u)
        return `"${text.trim()}": this answer is a number${typeof expected === 'string' ? ` of ${expected}` : ''}, not ${DIMENSION_WORD[u.dimension]}`;
      if (parts.length > 1) return `"${text.trim()}" is not one number`;
      return n;
    }
    if (!u) return `"${text.trim()}": "${word}" is not a unit this answer understands${unitHint(expected)}`;
    if (u.dimension !== expectedUnit.dimension)
      return `"${text.trim()}": the answer is ${DIMENSION_WORD[expectedUnit.dimension]}, and ${u.symbol} is not`;
    total += (n * u.factor) / expectedUnit.factor;
  }
  return total;
}

function unitHint(expected: Unit | string | undefined): string {
  if (typeof expected === 'object') return ` (answer in ${expected.symbol}, e.g. 42 or 42 ${expected.symbol})`;
  return ' (e.g. 42 or 86,400)';
}

// ---------------------------------------------------------------------------------------------
// The questions.

export interface Choice {
  /** `a`, `b`, … */
  letter: string;
  /** Markdown, one line. */
  text: string;
}

/** A section of the lesson: its heading as written, its file and the anchor GitHub gives it. */
export interface SectionRef {
  title: string;
  /** The step file it is in, relative to the lesson's folder: `README.md` or `steps/2-slug.md`. */
  file: string;
  anchor: string;
}

interface QuestionBase {
  number: number;
  title: string;
  /** Markdown. */
  prompt: string;
  /** Markdown: why the right answer is right, and the tempting wrong one wrong. */
  explanation: string;
  see: SectionRef;
}
export interface ChoiceQuestion extends QuestionBase {
  kind: 'choice';
  choices: Choice[];
  /** The letter of the right choice. */
  correct: string;
}
export interface NumberQuestion extends QuestionBase {
  kind: 'number';
  value: number;
  /** A unit of time, size or percentage; a word (`queries`); or undefined for a plain count. */
  unit: Unit | string | undefined;
  /** Accepted distance from `value`, in its unit (0: exact). */
  tolerance: number;
}
export type Question = ChoiceQuestion | NumberQuestion;

export interface Quiz {
  lesson: Pick<Lesson, 'id' | 'name' | 'title' | 'dir'>;
  /** `lessons/05-invalidation/quiz.md`, relative to the repository. */
  file: string;
  questions: Question[];
}

/** A quiz file that cannot be used: every problem, each naming the file and the question. */
export class QuizError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'QuizError';
  }
}

/** A question as the Markdown gives it, before validation. */
interface RawQuestion {
  number: number;
  title: string;
  prompt: string;
  choices: { letter: string; text: string; ticked: boolean }[];
  answer?: string;
  explanation: string;
  see?: SectionRef;
  /** Lines that fit nowhere: each is a problem. */
  stray: string[];
}

const LETTERS = 'abcdefgh';

const rawQuestion = z
  .object({
    number: z.number().int().positive(),
    title: z.string().trim().min(3, 'has no title: write "## N. A short title"'),
    prompt: z.string().trim().min(15, 'has no question under its title'),
    choices: z.array(z.object({ letter: z.string(), text: z.string(), ticked: z.boolean() })),
    answer: z.string().optional(),
    explanation: z
      .string()
      .trim()
      .min(
        80,
        'needs an explanation under "### Why" (at least a few sentences: why the right answer is right, and why the tempting wrong one is wrong)',
      ),
    see: z.object(
      { title: z.string(), file: z.string(), anchor: z.string() },
      {
        error:
          'needs a "See: [Section](README.md#anchor)" line under "### Why" (steps/M-slug.md#anchor for a later step of the lesson), naming the section to re-read',
      },
    ),
    stray: z.array(z.string()).max(0),
  })
  .superRefine((q, ctx) => {
    for (const line of q.stray)
      ctx.addIssue({
        code: 'custom',
        message: `has a line that is neither prompt, choice nor answer: "${line.trim()}"`,
      });
    if (q.choices.length > 0 && q.answer !== undefined)
      ctx.addIssue({ code: 'custom', message: 'has both choices and an "Answer:" line: keep one' });
    if (q.choices.length === 0 && q.answer === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'has neither choices ("- [x] a) …") nor an "Answer: 42 unit ± tolerance" line',
      });
    if (q.choices.length > 0) {
      if (q.choices.length < 2 || q.choices.length > 6)
        ctx.addIssue({ code: 'custom', message: `has ${q.choices.length} choice(s): give 2 to 6` });
      q.choices.forEach((c, i) => {
        if (c.letter !== LETTERS[i])
          ctx.addIssue({
            code: 'custom',
            message: `choice ${i + 1} is "${c.letter})": letter them a), b), c) … in order`,
          });
        if (c.text.trim() === '') ctx.addIssue({ code: 'custom', message: `choice ${c.letter}) is empty` });
      });
      const ticked = q.choices.filter((c) => c.ticked).length;
      if (ticked !== 1)
        ctx.addIssue({ code: 'custom', message: `has ${ticked} right choices ("- [x]"): tick exactly one` });
    }
    if (q.answer !== undefined) {
      const parsed = parseAnswerSpec(q.answer);
      if (typeof parsed === 'string') ctx.addIssue({ code: 'custom', message: parsed });
    }
  });

/**
 * The "Answer:" line of a numeric question: `693 ms ± 5`, `2.5 s ± 10%`, `256 MiB`, `3 queries`,
 * `4`. A tolerance in % is relative, except for an answer in % (then it is percentage points).
 */
function parseAnswerSpec(spec: string): { value: number; unit: Unit | string | undefined; tolerance: number } | string {
  const [valueText = '', toleranceText, ...more] = spec.split(/\s*(?:±|\+\/-|\+-)\s*/);
  if (more.length > 0) return `"Answer: ${spec}" has more than one ±`;
  const m = /^([-+]?[\d,_.]+)\s*(\S.*)?$/.exec(valueText.trim());
  if (!m) return `"Answer: ${spec}" does not start with a number`;
  const word = m[2]?.trim();
  const unitOf = word === undefined ? undefined : (UNITS.get(word.toLowerCase()) ?? word);
  if (typeof unitOf === 'string' && !/^[a-z][a-z -]*$/i.test(unitOf))
    return `"Answer: ${spec}": "${word}" is neither a unit (ms, s, min, h, d, B, KB, MiB, %) nor a word`;
  const value = parseQuantity(m[1] as string, unitOf);
  if (typeof value === 'string') return `"Answer: ${spec}": ${value}`;
  let tolerance = 0;
  if (toleranceText !== undefined) {
    const relative = /^([\d.]+)\s*%$/.exec(toleranceText.trim());
    if (relative && !(typeof unitOf === 'object' && unitOf.dimension === 'percent')) {
      tolerance = (Math.abs(value) * Number(relative[1])) / 100;
    } else {
      const t = parseQuantity(toleranceText, unitOf);
      if (typeof t === 'string') return `"Answer: ${spec}": its tolerance ${t}`;
      tolerance = Math.abs(t);
    }
    if (!Number.isFinite(tolerance)) return `"Answer: ${spec}": its tolerance is not a number`;
  }
  return { value, unit: unitOf, tolerance };
}

/** Split a quiz file into raw questions. Never throws: what does not fit becomes a problem. */
function parseQuizMarkdown(text: string): { questions: RawQuestion[]; problems: string[] } {
  const problems: string[] = [];
  const lines = text.replace(/<!--[\s\S]*?-->/g, '').split(/\r?\n/);
  const questions: RawQuestion[] = [];
  let current: RawQuestion | undefined;
  let part: 'prompt' | 'why' = 'prompt';
  let fence: string | undefined;
  let prompt: string[] = [];
  let why: string[] = [];
  let lastChoice: RawQuestion['choices'][number] | undefined;
  const finish = () => {
    if (!current) return;
    current.prompt = trimLines(prompt);
    current.explanation = trimLines(why);
    questions.push(current);
  };
  for (const line of lines) {
    const fenceMark = /^\s*(```|~~~)/.exec(line)?.[1];
    if (fence) {
      if (fenceMark === fence) fence = undefined;
      (part === 'why' ? why : prompt).push(line);
      continue;
    }
    if (fenceMark) {
      fence = fenceMark;
      if (current) (part === 'why' ? why : prompt).push(line);
      continue;
    }
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading) {
      finish();
      const numbered = /^(\d+)[.)]\s*(.*)$/.exec((heading[1] as string).trim());
      if (!numbered) {
        problems.push(`the heading "${line.trim()}" is not a question: write "## N. Title"`);
        current = undefined;
        continue;
      }
      current = {
        number: Number(numbered[1]),
        title: (numbered[2] as string).trim(),
        prompt: '',
        choices: [],
        explanation: '',
        stray: [],
      };
      part = 'prompt';
      prompt = [];
      why = [];
      lastChoice = undefined;
      continue;
    }
    if (!current) continue; // the title and notes before the first question
    if (/^###\s+why\s*$/i.test(line)) {
      if (part === 'why') current.stray.push(line);
      part = 'why';
      continue;
    }
    if (part === 'why') {
      const see = /^see:\s*\[(.+)\]\((?:\.\/)?(README\.md|steps\/[^)#\s]+\.md)?#([^)\s]+)\)\s*\.?\s*$/i.exec(
        line.trim(),
      );
      if (see) {
        if (current.see) current.stray.push(line);
        else current.see = { title: (see[1] as string).trim(), file: see[2] ?? 'README.md', anchor: see[3] as string };
      } else why.push(line);
      continue;
    }
    const choice = /^\s*[-*]\s+\[([ xX])\]\s+([a-z])\)\s*(.*)$/.exec(line);
    if (choice) {
      lastChoice = { letter: choice[2] as string, text: (choice[3] as string).trim(), ticked: choice[1] !== ' ' };
      current.choices.push(lastChoice);
      continue;
    }
    const answer = /^answer:\s*(.*)$/i.exec(line.trim());
    if (answer) {
      if (current.answer !== undefined) current.stray.push(line);
      else current.answer = (answer[1] as string).trim();
      continue;
    }
    if (lastChoice) {
      // After the choices: an indented line continues the last one; a blank line is fine.
      if (line.trim() === '') continue;
      if (/^\s{2,}\S/.test(line)) lastChoice.text += ` ${line.trim()}`;
      else current.stray.push(line);
      continue;
    }
    if (current.answer !== undefined && line.trim() !== '') current.stray.push(line);
    else prompt.push(line);
  }
  finish();
  return { questions, problems };
}

function trimLines(lines: string[]): string {
  return lines
    .join('\n')
    .replace(/^\s*\n/, '')
    .trimEnd();
}

function toQuestion(raw: RawQuestion): Question {
  const base = {
    number: raw.number,
    title: raw.title,
    prompt: raw.prompt.trim(),
    explanation: raw.explanation.trim(),
    see: raw.see as SectionRef,
  };
  if (raw.choices.length > 0) {
    return {
      ...base,
      kind: 'choice',
      choices: raw.choices.map((c) => ({ letter: c.letter, text: c.text.trim() })),
      correct: raw.choices.find((c) => c.ticked)?.letter as string,
    };
  }
  const spec = parseAnswerSpec(raw.answer as string) as Exclude<ReturnType<typeof parseAnswerSpec>, string>;
  return { ...base, kind: 'number', ...spec };
}

export function quizPath(lesson: Pick<Lesson, 'dir'>): string {
  return join(lesson.dir, QUIZ_FILE);
}

/**
 * Read and validate a lesson's quiz. Throws a `QuizError` listing every problem, each as
 * "lessons/NN-slug/quiz.md, question 3 ("Title"): what is wrong".
 */
export function loadQuiz(lesson: Pick<Lesson, 'id' | 'name' | 'title' | 'dir'>, root: string = REPO_ROOT): Quiz {
  const path = quizPath(lesson);
  const file = relative(root, path) || path;
  if (!existsSync(path))
    throw new QuizError([
      `${file}: missing. Write the lesson's "Check yourself" questions there (see packages/workshop/src/quiz.ts for the format).`,
    ]);
  const { questions: raws, problems: fileProblems } = parseQuizMarkdown(readFileSync(path, 'utf8'));
  const problems = fileProblems.map((p) => `${file}: ${p}`);
  if (raws.length === 0 && problems.length === 0)
    problems.push(`${file}: no questions. Each one starts with "## 1. A short title".`);
  const questions: Question[] = [];
  raws.forEach((raw, i) => {
    const at = `${file}, question ${raw.number}${raw.title ? ` ("${raw.title}")` : ''}`;
    if (raw.number !== i + 1)
      problems.push(
        `${at}: is number ${raw.number} but comes ${ordinal(i + 1)}: number the questions 1, 2, 3 … in order`,
      );
    const result = rawQuestion.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues) problems.push(`${at}: ${issue.message}`);
      return;
    }
    questions.push(toQuestion(raw));
  });
  if (problems.length > 0) throw new QuizError(problems);
  return { lesson, file, questions };
}

function ordinal(n: number): string {
  return n === 1 ? '1st' : n === 2 ? '2nd' : n === 3 ? '3rd' : `${n}th`;
}

/**
 * What `cachelab check` asks of a lesson's quiz: it loads, it has at least MIN_QUIZ_QUESTIONS
 * questions, and every See: link names a heading (by GitHub's anchor) of the step file it
 * names: the README, or in a lesson with steps one of its steps/M-slug.md. When the heading
 * has moved to another step, the problem says where it is now.
 */
export function lintQuiz(lesson: Pick<Lesson, 'id' | 'name' | 'title' | 'dir'>, root: string = REPO_ROOT): string[] {
  let quiz: Quiz;
  try {
    quiz = loadQuiz(lesson, root);
  } catch (err) {
    if (err instanceof QuizError) return err.problems;
    throw err;
  }
  const problems: string[] = [];
  if (quiz.questions.length < MIN_QUIZ_QUESTIONS)
    problems.push(
      `${quiz.file}: ${quiz.questions.length} question${quiz.questions.length === 1 ? '' : 's'}, at least ${MIN_QUIZ_QUESTIONS} wanted. Turn the README's "Check yourself" into questions that test judgement (which TTL, what a 304 confirms, what a race leaves behind).`,
    );
  const steps = listSteps(lesson);
  const anchorsOf = new Map(
    steps.map((s) => [s.file, existsSync(s.path) ? readmeSections(readFileSync(s.path, 'utf8')) : new Map()]),
  );
  for (const q of quiz.questions) {
    const at = `${quiz.file}, question ${q.number} ("${q.title}")`;
    const anchors = anchorsOf.get(q.see.file);
    const target = relative(root, join(lesson.dir, q.see.file));
    if (!anchors) {
      problems.push(
        `${at}: its See: link names ${q.see.file}, which is not a step of the lesson (${steps.map((s) => s.file).join(', ')}).`,
      );
      continue;
    }
    if (anchors.has(q.see.anchor)) continue;
    const elsewhere = steps.find((s) => anchorsOf.get(s.file)?.has(q.see.anchor));
    problems.push(
      elsewhere
        ? `${at}: its See: link #${q.see.anchor} is not a heading of ${target}: the section is in ${elsewhere.file} now (See: [${q.see.title}](${elsewhere.file}#${q.see.anchor})).`
        : `${at}: its See: link #${q.see.anchor} is not a heading of ${target}${closestAnchor(q.see.anchor, anchors.keys())}.`,
    );
  }
  return problems;
}

// The anchors GitHub gives headings live in markdown.ts (shared with the steps lint and the
// link test); exported here too, where they were first.
export { githubSlug, readmeSections };

// ---------------------------------------------------------------------------------------------
// Answers and grading.

/** One question's answer, as given and as understood. */
export type Given = { kind: 'choice'; letter: string } | { kind: 'number'; value: number; text: string };

/** Bad input to --answers: one line, exit code 2. */
export class AnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnswerError';
  }
}

/**
 * Understand one answer to one question, or say what is wrong with it (a sentence). Letters
 * may be written `b`, `B`, `b)` or `(b)`; numbers as `parseQuantity` reads them.
 */
export function readAnswer(question: Question, text: string): Given | string {
  if (question.kind === 'choice') {
    const m = /^\(?\s*([a-z])\s*\)?\.?$/i.exec(text.trim());
    const letters = question.choices.map((c) => c.letter);
    const range = `${letters[0]}–${letters[letters.length - 1]}`;
    if (!m)
      return `question ${question.number} is multiple choice: answer with a letter, ${range}; "${text.trim()}" is not one`;
    const letter = (m[1] as string).toLowerCase();
    if (!letters.includes(letter)) return `question ${question.number} has choices ${range}; there is no ${letter})`;
    return { kind: 'choice', letter };
  }
  const value = parseQuantity(text, question.unit);
  if (typeof value === 'string') return `question ${question.number}: ${value}`;
  return { kind: 'number', value, text: text.trim() };
}

/**
 * `--answers`: `1=b,2=86,400,3=24h` (also `;`, spaces or new lines between answers, `:` for
 * `=`), or JSON: `{"1": "b", "2": 86400}` or `["b", 86400, "24h"]` (null skips one). Throws an
 * `AnswerError` naming the first thing that is wrong. Questions not answered are left out.
 */
export function parseAnswers(input: string, quiz: Quiz): Map<number, Given> {
  const text = input.trim();
  const usage = `e.g. --answers 1=b,2=42 (questions 1–${quiz.questions.length})`;
  if (text === '') throw new AnswerError(`--answers is empty: give one answer per question, ${usage}.`);
  const pairs: [string, string][] = [];
  if (text.startsWith('{') || text.startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new AnswerError(
        `--answers is not valid JSON (${(err as Error).message}): ${usage}, or {"1": "b", "2": 42}.`,
      );
    }
    const entries: [string, unknown][] = Array.isArray(data)
      ? data.map((v, i) => [String(i + 1), v])
      : Object.entries(data as Record<string, unknown>);
    for (const [key, value] of entries) {
      if (value === null || value === undefined) continue;
      if (typeof value !== 'string' && typeof value !== 'number')
        throw new AnswerError(
          `--answers: the answer to question ${key} must be a string or a number, not ${JSON.stringify(value)}.`,
        );
      pairs.push([key, String(value)]);
    }
  } else {
    // Split on , ; and new lines, except inside a number: "2=86,400" is one answer (a group of
    // exactly three digits after a digit rejoins it), "1=b,2" is two, the second malformed.
    const items: string[] = [];
    for (const token of text.split(/\s*[,;\n]\s*/)) {
      const previous = items[items.length - 1];
      if (previous !== undefined && /\d$/.test(previous) && /^\d{3}(?!\d)(?!\s*[=:])/.test(token))
        items[items.length - 1] = `${previous},${token}`;
      else if (token !== '') items.push(...token.split(/\s+(?=\d+\s*[=:])/));
    }
    for (const item of items) {
      const m = /^(\S+?)\s*[=:]\s*([\s\S]*)$/.exec(item.trim());
      if (!m) throw new AnswerError(`--answers: "${item.trim()}" is not NUMBER=ANSWER, ${usage}.`);
      pairs.push([m[1] as string, m[2] as string]);
    }
  }
  const answers = new Map<number, Given>();
  for (const [key, value] of pairs) {
    if (!/^\d+$/.test(key)) throw new AnswerError(`--answers: "${key}" is not a question number, ${usage}.`);
    const n = Number(key);
    const question = quiz.questions[n - 1];
    if (!question)
      throw new AnswerError(
        `--answers: there is no question ${n} in lesson ${quiz.lesson.id}'s quiz (it has ${quiz.questions.length}: 1–${quiz.questions.length}).`,
      );
    if (answers.has(n)) throw new AnswerError(`--answers: question ${n} is answered twice.`);
    if (value.trim() === '') throw new AnswerError(`--answers: question ${n} has nothing after "=".`);
    const given = readAnswer(question, value);
    if (typeof given === 'string') throw new AnswerError(`--answers: ${given}.`);
    answers.set(n, given);
  }
  if (answers.size === 0) throw new AnswerError(`--answers answers no question: ${usage}.`);
  return answers;
}

export interface Graded {
  question: Question;
  given: Given | undefined;
  right: boolean;
}

export function isRight(question: Question, given: Given | undefined): boolean {
  if (!given) return false;
  if (question.kind === 'choice') return given.kind === 'choice' && given.letter === question.correct;
  if (given.kind !== 'number') return false;
  const slack = question.tolerance + 1e-9 * Math.max(1, Math.abs(question.value));
  return Math.abs(given.value - question.value) <= slack;
}

export function grade(quiz: Quiz, answers: Map<number, Given>): Graded[] {
  return quiz.questions.map((question) => {
    const given = answers.get(question.number);
    return { question, given, right: isRight(question, given) };
  });
}

/** `693 ms`, `86,400 s ± 5%` — how the right answer of a numeric question is shown. */
export function formatExpected(q: NumberQuestion): string {
  const value = `${formatNumber(q.value)}${unitSuffix(q.unit)}`;
  if (q.tolerance === 0) return value;
  return `${value} (± ${formatNumber(q.tolerance)}${unitSuffix(q.unit)} accepted)`;
}

export function unitSuffix(u: Unit | string | undefined): string {
  if (u === undefined) return '';
  const symbol = typeof u === 'object' ? u.symbol : u;
  return symbol === '%' ? ' %' : ` ${symbol}`;
}

function formatNumber(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/** How a given answer is shown: the letter, or the number as the learner wrote it. */
export function formatGiven(given: Given | undefined): string {
  if (!given) return 'no answer';
  return given.kind === 'choice' ? `${given.letter})` : given.text;
}

/** The right answer, as shown after a question. */
export function formatCorrect(q: Question): string {
  if (q.kind === 'choice') return `${q.correct})`;
  return formatExpected(q);
}

/** The section a question points to, as a path a terminal can open: `lessons/05-x/steps/2-y.md#anchor`. */
export function sectionPath(quiz: Quiz, q: Question): string {
  return `${relative(REPO_ROOT, join(quiz.lesson.dir, q.see.file))}#${q.see.anchor}`;
}

/** The command that shows the step a question points to: `npx cachelab read 05.2`. */
export function sectionCommand(quiz: Quiz, q: Question): string {
  return readCommand(quiz.lesson.id, stepOfFile(q.see.file) ?? 1);
}
