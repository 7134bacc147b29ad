import { input, select } from '@inquirer/prompts';
import { isInteractive } from '../learner.ts';
import { c, indent, info, mark, UserError } from '../output.ts';
import { loadProgress, type QuizRecord, recordQuiz } from '../progress.ts';
import {
  AnswerError,
  formatCorrect,
  formatGiven,
  type Given,
  type Graded,
  grade,
  isRight,
  loadQuiz,
  parseAnswers,
  type Question,
  type Quiz,
  QuizError,
  readAnswer,
  sectionCommand,
  sectionPath,
  unitSuffix,
} from '../quiz.ts';
import { findLesson, type Lesson, listExercises, listLessons } from '../repo.ts';
import { colourWanted } from '../terminal.ts';
import { renderMarkdown } from './read.ts';

/**
 * `cachelab quiz NN`: the lesson's "Check yourself" questions (lessons/NN-slug/quiz.md).
 *
 *  - on a terminal: one question at a time (@inquirer/prompts), each followed by whether it was
 *    right, why, and the section to re-read (the step's `npx cachelab read NN.M`); then the score;
 *  - `--answers 1=b,2=42,…` (or `--answers -` with the same, or JSON, on stdin): graded at once,
 *    the same feedback for every question, for scripts, CI and the workshop's own tests;
 *  - with neither and no terminal: the questions, and how to answer them; `--json` the same as
 *    data (without the answers).
 *
 * A graded attempt is recorded in progress (the best score and when, and the last one). Exit
 * code: 0 when every answer is right, 1 otherwise; 2 for input that cannot be read (a lesson
 * that does not exist, malformed --answers), one line and no stack trace.
 */
export async function quiz(lessonQuery: string, options: { answers?: string; json?: boolean } = {}): Promise<number> {
  const lesson = findLesson(lessonQuery);
  if (!lesson) {
    const ids = listLessons()
      .map((l) => l.id)
      .join(', ');
    throw new UserError(
      `There is no lesson "${lessonQuery}". Lessons: ${ids}. List them with \`npx cachelab lessons\`.`,
      2,
    );
  }
  const loaded = load(lesson);
  if (options.answers !== undefined) {
    const text = options.answers === '-' ? await readStdin() : options.answers;
    let answers: Map<number, Given>;
    try {
      answers = parseAnswers(text, loaded);
    } catch (err) {
      if (err instanceof AnswerError) throw new UserError(err.message, 2);
      throw err;
    }
    return finish(loaded, grade(loaded, answers), options);
  }
  if (options.json) {
    console.log(JSON.stringify(questionsAsData(loaded), null, 2));
    return 0;
  }
  if (isInteractive()) return ask(loaded);
  printQuestions(loaded);
  return 0;
}

function load(lesson: Lesson): Quiz {
  try {
    return loadQuiz(lesson);
  } catch (err) {
    if (!(err instanceof QuizError)) throw err;
    const [first, ...more] = err.problems;
    throw new UserError(
      `Lesson ${lesson.id}'s quiz cannot be used: ${first}${more.length > 0 ? ` (and ${more.length} more problem${more.length === 1 ? '' : 's'}: \`npx cachelab check\` lists them)` : ''}`,
      1,
    );
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new UserError(
      '--answers - reads the answers from stdin, and stdin is a terminal: pipe them in (echo \'{"1":"b"}\' | npx cachelab quiz NN --answers -), or give them on the command line.',
      2,
    );
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Showing questions and feedback.

function width(): number {
  return Math.max(40, Math.min(process.stdout.columns ?? 100, 100));
}

/** Markdown for the terminal, without the blank lines marked adds around it. */
function md(text: string, indentBy = 0): string {
  const out = renderMarkdown(text, { colour: colourWanted(), width: width() - indentBy }).replace(/\s+$/, '');
  return indentBy > 0 ? indent(out.replace(/^\n+/, ''), indentBy) : out.replace(/^\n+/, '');
}

/** A choice's one line of Markdown, as plain text with `code` coloured. */
function inline(text: string): string {
  return text
    .replace(/`([^`]+)`/g, (_, code: string) => c.yellow(code))
    .replace(/\*\*(.+?)\*\*/g, (_, s: string) => c.bold(s))
    .replace(/(^|\W)_(.+?)_(?=\W|$)/g, '$1$2');
}

function heading(quiz: Quiz): string {
  const n = quiz.questions.length;
  return `${c.bold(`Lesson ${quiz.lesson.id} quiz`)} — ${quiz.lesson.title} (${n} question${n === 1 ? '' : 's'})`;
}

const UNIT_EXAMPLE = { time: '1.5 min, 90 s or 1 h 30 min', bytes: '64 MiB or 1.5 GB', percent: '53 %' };

function answerFormat(q: Question): string {
  if (q.kind === 'choice') return `one letter, ${q.choices[0]?.letter}–${q.choices[q.choices.length - 1]?.letter}`;
  if (typeof q.unit === 'object')
    return `a number in ${q.unit.symbol}; other units work too, e.g. ${UNIT_EXAMPLE[q.unit.dimension]}`;
  if (typeof q.unit === 'string') return `a number of ${q.unit}`;
  return 'a number';
}

/** A question's title and prompt; its choices too, unless a prompt will show them. */
function printQuestion(q: Question, total: number, withChoices = true): void {
  console.log('');
  console.log(c.bold(`${q.number}/${total}. ${q.title}`));
  console.log(md(q.prompt, 2));
  if (q.kind === 'number') console.log(c.dim(`    (${answerFormat(q)})`));
  else if (withChoices) for (const ch of q.choices) console.log(`    ${c.bold(`${ch.letter})`)} ${inline(ch.text)}`);
}

/** No terminal and no answers: show the questions and how to answer them. */
function printQuestions(quiz: Quiz): void {
  console.log(heading(quiz));
  for (const q of quiz.questions) printQuestion(q, quiz.questions.length);
  console.log('');
  const example = quiz.questions.map((q) => `${q.number}=${q.kind === 'choice' ? 'b' : '42'}`).join(',');
  info(
    `No terminal to ask on, so nothing was graded. Answer all at once: npx cachelab quiz ${quiz.lesson.id} --answers ${example}`,
  );
  console.log(
    `  (or pipe the same, or JSON such as {"1": "b"}, into \`--answers -\`; add --json for machine-readable results)`,
  );
}

/** The questions as data, for a tool that builds the answers: everything but the solutions. */
function questionsAsData(quiz: Quiz) {
  return {
    lesson: quiz.lesson.id,
    name: quiz.lesson.name,
    title: quiz.lesson.title,
    file: quiz.file,
    questions: quiz.questions.map((q) => ({
      number: q.number,
      title: q.title,
      prompt: q.prompt,
      kind: q.kind,
      ...(q.kind === 'choice'
        ? { choices: q.choices.map((ch) => ({ letter: ch.letter, text: ch.text })) }
        : { unit: typeof q.unit === 'object' ? q.unit.symbol : (q.unit ?? null) }),
    })),
    answerWith: `npx cachelab quiz ${quiz.lesson.id} --answers ${quiz.questions.map((q) => `${q.number}=…`).join(',')}`,
  };
}

/** ✓ or ✗, the answer, why, and where to read more. */
function feedback(quiz: Quiz, g: Graded): string {
  const { question: q, given, right } = g;
  const head = right
    ? `${mark.ok} ${q.number}. ${q.title}: ${formatGiven(given)} is right`
    : `${mark.fail} ${q.number}. ${q.title}: ${given ? `you answered ${formatGiven(given)}` : 'not answered'}; the answer is ${formatCorrect(q)}`;
  const answerText = q.kind === 'choice' ? q.choices.find((ch) => ch.letter === q.correct)?.text : undefined;
  const correctLetter = q.kind === 'choice' ? q.correct : '';
  return [
    head,
    ...(answerText && !right ? [indent(`${c.bold(`${correctLetter})`)} ${inline(answerText)}`, 4)] : []),
    md(q.explanation, 4),
    indent(c.dim(`Read again: ${q.see.title} — ${sectionCommand(quiz, q)} (${sectionPath(quiz, q)})`), 4),
  ].join('\n');
}

function scoreLine(quiz: Quiz, score: number, record: QuizRecord): string {
  const total = quiz.questions.length;
  const best =
    record.score === score && record.of === total && record.at === record.last.at
      ? ''
      : `  Best: ${record.score} of ${record.of} (${record.at.slice(0, 10)}).`;
  const line = `Score: ${score} of ${total}.${best}`;
  return score === total ? `${mark.ok} ${c.bold(line)}` : `${mark.fail} ${c.bold(line)}`;
}

/** What to do after the quiz: re-read what was missed, or move on. */
function nextLine(quiz: Quiz, graded: Graded[]): string {
  const missed = graded.filter((g) => !g.right);
  if (missed.length > 0) {
    // The sections to re-read, grouped by the step that has them: “A”, “B” (`read 05.2`), “C” (`read 05`).
    const byStep = new Map<string, Set<string>>();
    for (const g of missed) {
      const command = sectionCommand(quiz, g.question);
      byStep.set(command, (byStep.get(command) ?? new Set()).add(`“${g.question.see.title}”`));
    }
    const sections = [...byStep].map(([command, titles]) => `${[...titles].join(', ')} (\`${command}\`)`).join(', ');
    return `Re-read ${sections}, then try again: \`npx cachelab quiz ${quiz.lesson.id}\`.`;
  }
  const progress = loadProgress();
  const exercise = listExercises().find((e) => e.lesson === quiz.lesson.id && !progress.solved[e.id]);
  if (exercise) return `Next: exercise ${exercise.id} ${exercise.title} — \`npx cachelab watch ${exercise.id}\`.`;
  const lessons = listLessons();
  const next = lessons[lessons.findIndex((l) => l.id === quiz.lesson.id) + 1];
  if (next) return `Next: lesson ${next.id} ${next.title} — \`npx cachelab read ${next.id}\`.`;
  return 'That was the last lesson. Well done!';
}

/** Record a graded attempt, print it (or its JSON) and say what the exit code is. */
function finish(quiz: Quiz, graded: Graded[], options: { json?: boolean }, printed = false): number {
  const score = graded.filter((g) => g.right).length;
  const total = quiz.questions.length;
  const record = recordQuiz(quiz.lesson.id, { score, of: total, at: new Date().toISOString() });
  if (options.json) {
    console.log(
      JSON.stringify(
        {
          lesson: quiz.lesson.id,
          name: quiz.lesson.name,
          score,
          total,
          allRight: score === total,
          best: { score: record.score, of: record.of, at: record.at },
          questions: graded.map(({ question: q, given, right }) => ({
            number: q.number,
            title: q.title,
            kind: q.kind,
            given: given ? (given.kind === 'choice' ? given.letter : given.value) : null,
            correct: q.kind === 'choice' ? q.correct : q.value,
            ...(q.kind === 'number'
              ? { unit: typeof q.unit === 'object' ? q.unit.symbol : (q.unit ?? null), tolerance: q.tolerance }
              : {}),
            right,
            explanation: q.explanation,
            see: { title: q.see.title, path: sectionPath(quiz, q), read: sectionCommand(quiz, q) },
          })),
        },
        null,
        2,
      ),
    );
  } else {
    if (!printed) {
      console.log(heading(quiz));
      for (const g of graded) console.log(`\n${feedback(quiz, g)}`);
    }
    console.log('');
    console.log(scoreLine(quiz, score, record));
    console.log(nextLine(quiz, graded));
  }
  return score === total ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// On a terminal.

/** One question at a time; Ctrl-C stops without recording anything. */
async function ask(quiz: Quiz): Promise<number> {
  console.log(heading(quiz));
  console.log(c.dim('After each answer: whether it was right, why, and the section to re-read. Ctrl-C stops.'));
  const graded: Graded[] = [];
  const total = quiz.questions.length;
  try {
    for (const q of quiz.questions) {
      printQuestion(q, total, false);
      const given: Given =
        q.kind === 'choice'
          ? {
              kind: 'choice',
              letter: await select<string>({
                message: 'Your answer',
                choices: q.choices.map((ch) => ({
                  value: ch.letter,
                  name: `${ch.letter}) ${inline(ch.text)}`,
                  short: `${ch.letter})`,
                })),
                loop: false,
              }),
            }
          : await askNumber(q);
      const g = { question: q, given, right: isRight(q, given) };
      graded.push(g);
      console.log('');
      console.log(feedback(quiz, g));
    }
  } catch (err) {
    if (err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError')) {
      console.log('');
      info(`Stopped after ${graded.length} of ${total} questions; nothing was recorded.`);
      return 130;
    }
    throw err;
  }
  return finish(quiz, graded, {}, true);
}

async function askNumber(q: Question): Promise<Given> {
  const suffix = q.kind === 'number' ? unitSuffix(q.unit).trim() : '';
  const text = await input({
    message: `Your answer${suffix ? ` (in ${suffix})` : ''}`,
    validate: (value) => {
      const given = readAnswer(q, value);
      return typeof given === 'string' ? given.replace(/^question \d+: /, '') : true;
    },
  });
  return readAnswer(q, text) as Given;
}
