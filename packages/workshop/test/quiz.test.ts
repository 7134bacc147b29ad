import { spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCommand, stepOfFile } from '../src/lesson-steps.ts';
import {
  lintQuiz,
  loadQuiz,
  MIN_QUIZ_QUESTIONS,
  parseAnswers,
  parseQuantity,
  type Question,
  type Quiz,
  QuizError,
  sectionCommand,
  sectionPath,
} from '../src/quiz.ts';
import { findLesson, listLessons, REPO_ROOT } from '../src/repo.ts';
import { BIN, cachelab, createLearner } from './learner-kit.ts';

/**
 * `cachelab quiz NN`: every lesson's quiz file is valid, the answer parser reads what people
 * type, and the CLI — run as a learner would without a terminal, with progress in a state
 * folder of its own — grades, explains, records and refuses bad input in one line.
 */

const learner = createLearner('quiz');
afterAll(() => learner.dispose());
const run = (args: string[]) => cachelab(args, learner.env);

/** The right answer to a question, as someone would type it. */
function rightAnswer(q: Question): string {
  if (q.kind === 'choice') return q.correct;
  return `${q.value}${typeof q.unit === 'object' ? ` ${q.unit.symbol}` : ''}`;
}

function answersFor(quiz: Quiz, answer: (q: Question) => string): string {
  return quiz.questions.map((q) => `${q.number}=${answer(q)}`).join(',');
}

describe('every lesson has a quiz that loads and validates', () => {
  const lessons = listLessons();
  it('covers the lessons 01 to 10', () => {
    expect(lessons.map((l) => l.id)).toEqual(
      expect.arrayContaining(['01', '02', '03', '04', '05', '06', '07', '08', '09', '10']),
    );
  });
  it.each(lessons.map((l) => [l.name, l] as const))('%s', (_, lesson) => {
    expect(lintQuiz(lesson), 'what cachelab check would report').toEqual([]);
    const quiz = loadQuiz(lesson);
    expect(quiz.questions.length).toBeGreaterThanOrEqual(MIN_QUIZ_QUESTIONS);
    for (const q of quiz.questions) {
      expect(q.explanation.length, `question ${q.number}'s explanation`).toBeGreaterThan(80);
      if (q.kind === 'choice') expect(q.choices.map((c) => c.letter)).toContain(q.correct);
    }
  });
});

describe('quiz files: problems name the file and the question', () => {
  const root = join(REPO_ROOT, '.cachelab', `test-quiz-files-${process.pid}`);
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const lesson = { id: '01', name: '01-basics', title: 'Basics', dir: join(root, 'lessons', '01-basics') };
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const why =
    'Because the worst case is L2 + L1: a copy taken from Redis just before it expires lives one more L1 TTL.';

  it('names each problem, and lintQuiz adds the count and the README anchors', () => {
    write('lessons/01-basics/README.md', '# Basics\n\n## The idea, part 1: TTLs\n\n```sh\n# not a heading\n```\n');
    write(
      'lessons/01-basics/quiz.md',
      [
        '# Quiz',
        '',
        '## 1. Fine',
        '',
        'Which TTL fits the status of an employee?',
        '',
        '- [ ] a) One day',
        '- [x] b) 50 s + 10 s',
        '',
        '### Why',
        '',
        why,
        '',
        'See: [TTLs](README.md#the-idea-part-1-ttls)',
        '',
        '## 2. Two right answers',
        '',
        'Which of these are right, really?',
        '',
        '- [x] a) This',
        '- [x] b) That',
        '',
        '### Why',
        '',
        why,
        '',
        'See: [TTLs](README.md#the-idea-part-1-ttls)',
        '',
        '## 3. No explanation',
        '',
        'How many seconds is the worst case here?',
        '',
        'Answer: 60 s',
        '',
        '## 5. Out of order, and a bad unit',
        '',
        'How long is the worst case, with a unit that is not one?',
        '',
        'Answer: 60 s ± 5 MB',
        '',
        '### Why',
        '',
        why,
        '',
        'See: [Missing](README.md#not-a-heading)',
      ].join('\n'),
    );
    let problems: string[] = [];
    try {
      loadQuiz(lesson, root);
    } catch (err) {
      expect(err).toBeInstanceOf(QuizError);
      problems = (err as QuizError).problems;
    }
    const text = problems.join('\n');
    expect(text).toContain('lessons/01-basics/quiz.md, question 2 ("Two right answers"): has 2 right choices');
    expect(text).toContain(
      'lessons/01-basics/quiz.md, question 3 ("No explanation"): needs an explanation under "### Why"',
    );
    expect(text).toContain('question 3 ("No explanation"): needs a "See: [Section](README.md#anchor)" line');
    expect(text).toMatch(/question 5 \("Out of order, and a bad unit"\): is number 5 but comes 4th/);
    expect(text).toMatch(/question 5 .*its tolerance .*the answer is a time, and MB is not/);
    expect(problems.some((p) => p.includes('question 1'))).toBe(false);
    expect(lintQuiz(lesson, root)).toEqual(problems);
  });

  it('lintQuiz wants enough questions and See: links to real headings', () => {
    write(
      'lessons/01-basics/quiz.md',
      [
        '## 1. Fine',
        '',
        'How many seconds is the status worst case?',
        '',
        'Answer: 60 s',
        '',
        '### Why',
        '',
        why,
        '',
        'See: [The idea](README.md#the-idea-part-1-ttl)',
      ].join('\n'),
    );
    const problems = lintQuiz(lesson, root).join('\n');
    expect(problems).toContain(`lessons/01-basics/quiz.md: 1 question, at least ${MIN_QUIZ_QUESTIONS} wanted`);
    expect(problems).toContain(
      'question 1 ("Fine"): its See: link #the-idea-part-1-ttl is not a heading of lessons/01-basics/README.md (did you mean #the-idea-part-1-ttls?)',
    );
  });

  it('See: links may point into a step of a lesson in steps; a section that moved is found where it is now', () => {
    const stepped = { id: '03', name: '03-stepped', title: 'Stepped', dir: join(root, 'lessons', '03-stepped') };
    write('lessons/03-stepped/README.md', '# Lesson 03 — Stepped\n\n## A TTL per kind\n');
    write('lessons/03-stepped/steps/2-on-write.md', '# Lesson 03, step 2 — On write\n\n## After the commit\n');
    const question = (n: number, see: string) => [
      `## ${n}. Question ${n}`,
      '',
      'Which TTL fits the status?',
      '',
      'Answer: 60 s',
      '',
      '### Why',
      '',
      why,
      '',
      see,
      '',
    ];
    write(
      'lessons/03-stepped/quiz.md',
      [
        ...question(1, 'See: [A TTL per kind](README.md#a-ttl-per-kind)'),
        ...question(2, 'See: [After the commit](steps/2-on-write.md#after-the-commit)'),
        ...question(3, 'See: [After the commit](README.md#after-the-commit)'),
        ...question(4, 'See: [Tags](steps/3-tags.md#tags)'),
      ].join('\n'),
    );
    const quiz = loadQuiz(stepped, root);
    expect(quiz.questions.map((q) => q.see.file)).toEqual([
      'README.md',
      'steps/2-on-write.md',
      'README.md',
      'steps/3-tags.md',
    ]);
    expect(lintQuiz(stepped, root)).toEqual([
      'lessons/03-stepped/quiz.md, question 3 ("Question 3"): its See: link #after-the-commit is not a heading of lessons/03-stepped/README.md: the section is in steps/2-on-write.md now (See: [After the commit](steps/2-on-write.md#after-the-commit)).',
      'lessons/03-stepped/quiz.md, question 4 ("Question 4"): its See: link names steps/3-tags.md, which is not a step of the lesson (README.md, steps/2-on-write.md).',
    ]);
    const [first, second] = quiz.questions as [Question, Question];
    expect(sectionCommand(quiz, first)).toBe('npx cachelab read 03');
    expect(sectionCommand(quiz, second)).toBe('npx cachelab read 03.2');
    expect(sectionPath(quiz, second)).toMatch(/lessons\/03-stepped\/steps\/2-on-write\.md#after-the-commit$/);
  });

  it('says when the file is missing', () => {
    const other = { ...lesson, id: '02', name: '02-none', dir: join(root, 'lessons', '02-none') };
    expect(lintQuiz(other, root).join('\n')).toContain('lessons/02-none/quiz.md: missing');
  });
});

describe('answers as people type them', () => {
  const seconds = { symbol: 's', dimension: 'time' as const, factor: 1000 };
  it('reads numbers with separators, units and sums of units', () => {
    expect(parseQuantity('86400', seconds)).toBe(86_400);
    expect(parseQuantity('86,400', seconds)).toBe(86_400);
    expect(parseQuantity('86 400 s', seconds)).toBe(86_400);
    expect(parseQuantity('24h', seconds)).toBe(86_400);
    expect(parseQuantity('1 d', seconds)).toBe(86_400);
    expect(parseQuantity('1 h 30 min', seconds)).toBe(5_400);
    expect(parseQuantity('250 ms', seconds)).toBeCloseTo(0.25);
    expect(parseQuantity('64 MiB', { symbol: 'MB', dimension: 'bytes', factor: 1e6 })).toBeCloseTo(67.108864);
    expect(parseQuantity('3', 'queries')).toBe(3);
    expect(parseQuantity('3 queries', 'queries')).toBe(3);
  });
  it('says what is wrong instead of guessing', () => {
    expect(parseQuantity('1,5', seconds)).toMatch(/decimals with a point/);
    expect(parseQuantity('twenty', seconds)).toMatch(/is not a number/);
    expect(parseQuantity('5 MB', seconds)).toMatch(/the answer is a time, and MB is not/);
    expect(parseQuantity('3 ms', 'queries')).toMatch(/a number of queries, not a time/);
    expect(parseQuantity('1 h 30', seconds)).toMatch(/give every part a unit/);
  });

  const quiz = loadQuiz(findLesson('05') as NonNullable<ReturnType<typeof findLesson>>);
  it('splits --answers on commas without splitting 86,400, and takes JSON', () => {
    const a = parseAnswers('1=b, 2=20,000 ms;3 = c\n4:d', quiz);
    expect([...a.keys()]).toEqual([1, 2, 3, 4]);
    expect(a.get(2)).toEqual({ kind: 'number', value: 20, text: '20,000 ms' });
    expect(a.get(3)).toEqual({ kind: 'choice', letter: 'c' });
    expect([...parseAnswers('{"1": "B", "2": 20}', quiz).values()]).toEqual([
      { kind: 'choice', letter: 'b' },
      { kind: 'number', value: 20, text: '20' },
    ]);
    expect([...parseAnswers('["b", null, "(c)"]', quiz).keys()]).toEqual([1, 3]);
  });
  it('refuses malformed --answers with a sentence', () => {
    const refuse = (input: string) => () => parseAnswers(input, quiz);
    expect(refuse('')).toThrow(/--answers is empty/);
    expect(refuse('b,c')).toThrow(/"b" is not NUMBER=ANSWER/);
    expect(refuse('1=b,1=c')).toThrow(/question 1 is answered twice/);
    const n = quiz.questions.length;
    expect(refuse(`${n + 1}=b`)).toThrow(`there is no question ${n + 1} in lesson 05's quiz (it has ${n}: 1–${n})`);
    expect(refuse('1=z')).toThrow(/question 1 has choices a–d; there is no z\)/);
    expect(refuse('1=')).toThrow(/question 1 has nothing after "="/);
    expect(refuse('2=soon')).toThrow(/question 2: "soon" is not a number/);
    expect(refuse('{"1": ')).toThrow(/--answers is not valid JSON/);
  });
});

/** The CLI with something on its stdin (`--answers -`), as `echo … | npx cachelab …` would. */
function cachelabWithStdin(args: string[], stdin: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', ...learner.env },
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
    child.stdin.end(stdin);
  });
}

// Each step runs the real CLI (a node process with tsx): about a second each.
describe('cachelab quiz, without a terminal', { timeout: 60_000 }, () => {
  const quiz = loadQuiz(findLesson('05') as NonNullable<ReturnType<typeof findLesson>>);
  const [first, second] = quiz.questions as [Question, Question];

  it('prints the questions and how to answer them when there is nothing to ask with', async () => {
    const { code, out } = await run(['quiz', '05']);
    expect(code, out).toBe(0);
    expect(out).toContain(`1/${quiz.questions.length}. ${first.title}`);
    expect(out).toMatch(
      /No terminal to ask on, so nothing was graded\. Answer all at once: npx cachelab quiz 05 --answers 1=/,
    );
    expect(out).not.toContain('### Why');
    expect(out, 'no explanation before answering').not.toContain(first.explanation.slice(0, 40));
  });

  it('answering everything right is full marks, exit 0, recorded in progress and shown on the home list', async () => {
    const { code, out } = await run(['quiz', '5', '--answers', answersFor(quiz, rightAnswer)]);
    expect(code, out).toBe(0);
    expect(out).toContain(`Score: ${quiz.questions.length} of ${quiz.questions.length}.`);
    expect(out).toMatch(/Next: (exercise|lesson) /);
    const progress = JSON.parse((await run(['progress', '--json'])).out) as {
      quizzes: { lesson: string; best: { score: number; of: number; at: string } | null }[];
    };
    const mine = progress.quizzes.find((q) => q.lesson === '05');
    expect(mine?.best).toMatchObject({ score: quiz.questions.length, of: quiz.questions.length });
    expect(Date.parse(mine?.best?.at ?? '')).toBeGreaterThan(Date.now() - 60_000);
    expect(progress.quizzes.find((q) => q.lesson === '01')?.best).toBeNull();
    const home = await run(['lessons']);
    expect(home.out).toMatch(
      new RegExp(`Lesson 05 .*✓ quiz ${quiz.questions.length}/${quiz.questions.length} \\d{4}-\\d{2}-\\d{2}`),
    );
  });

  it('a wrong answer shows the right one, the explanation and the section; the best score is kept', async () => {
    const wrong = (q: Question) =>
      q === second ? (q.kind === 'choice' ? (q.correct === 'a' ? 'b' : 'a') : `${q.value * 3}`) : rightAnswer(q);
    const { code, out } = await run(['quiz', '05', '--answers', answersFor(quiz, wrong)]);
    expect(code, out).toBe(1);
    expect(out).toMatch(new RegExp(`✗ 2\\. ${second.title}: you answered .*; the answer is `));
    expect(out).toContain(second.explanation.split('\n')[0]?.replace(/[`*_]/g, '').slice(0, 30));
    expect(out).toContain(
      `Read again: ${second.see.title} — ${readCommand('05', stepOfFile(second.see.file) ?? 1)} (lessons/05-invalidation/${second.see.file}#${second.see.anchor})`,
    );
    expect(out).toContain(`Score: ${quiz.questions.length - 1} of ${quiz.questions.length}.`);
    const n = quiz.questions.length;
    expect(out).toMatch(new RegExp(`Best: ${n} of ${n} \\(\\d{4}-\\d{2}-\\d{2}\\)`));
    expect(out).toContain('then try again: `npx cachelab quiz 05`');
  });

  it('--answers - reads JSON from stdin, and --json gives the results as data', async () => {
    const answers = Object.fromEntries(quiz.questions.map((q) => [q.number, rightAnswer(q)]));
    const { code, out } = await cachelabWithStdin(['quiz', '05', '--answers', '-', '--json'], JSON.stringify(answers));
    expect(code, out).toBe(0);
    const result = JSON.parse(out) as { score: number; total: number; questions: { right: boolean; see: object }[] };
    expect(result.score).toBe(quiz.questions.length);
    expect(result.total).toBe(quiz.questions.length);
    expect(result.questions.every((q) => q.right)).toBe(true);
  });

  it('refuses malformed --answers in one line, exit 2, no stack trace', async () => {
    const { code, out } = await run(['quiz', '05', '--answers', '1=b,2']);
    expect(code, out).toBe(2);
    expect(out.trim().split('\n')).toEqual([expect.stringMatching(/^✗ --answers: "2" is not NUMBER=ANSWER/)]);
    expect(out).not.toMatch(/\s+at /);
  });

  it('refuses an unknown lesson in one line, exit 2, no stack trace', async () => {
    const { code, out } = await run(['quiz', '99', '--answers', '1=a']);
    expect(code, out).toBe(2);
    expect(out.trim()).toBe(
      '✗ There is no lesson "99". Lessons: 01, 02, 03, 04, 05, 06, 07, 08, 09, 10. List them with `npx cachelab lessons`.',
    );
  });
});
