import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Marked, type Tokens } from 'marked';
import { markedTerminal } from 'marked-terminal';
import { listSteps, parseReadQuery, readCommand, type Step, stepTitle } from '../lesson-steps.ts';
import { c, UserError } from '../output.ts';
import { updateProgress } from '../progress.ts';
import { findExercise, findLesson, type Lesson, listExercises, listLessons, REPO_ROOT } from '../repo.ts';
import { colourWanted, page, stripAnsi } from '../terminal.ts';

/**
 * Markdown as a terminal shows it: headings, lists, tables drawn with borders, code blocks
 * highlighted. marked parses (the CommonMark + GFM parser most Node tools use) and
 * marked-terminal renders for a terminal. Colours are picocolors' (bold, cyan, yellow:
 * readable on light and dark backgrounds), and all of them go when colour is not wanted.
 */
export function renderMarkdown(markdown: string, options: { colour?: boolean; width?: number } = {}): string {
  const colour = options.colour ?? colourWanted();
  const width = Math.max(40, Math.min(options.width ?? process.stdout.columns ?? 100, 100));
  const marked = new Marked(
    markedTerminal({
      firstHeading: (s) => c.bold(c.cyan(s)),
      heading: (s) => c.bold(c.cyan(s)),
      blockquote: (s) => c.italic(s),
      code: (s) => c.yellow(s),
      codespan: (s) => c.yellow(s),
      strong: (s) => c.bold(s),
      em: (s) => c.italic(s),
      link: (s) => c.blue(s),
      href: (s) => c.underline(c.blue(s)),
      html: (s) => s,
      del: (s) => c.strikethrough(s),
      reflowText: true,
      width: width - 2,
      tab: 2,
      emoji: false,
    }),
  );
  marked.use({
    renderer: {
      // marked-terminal renders a list item's text token as its raw source (`code`, **bold**
      // and links unrendered): render its inline tokens instead.
      text(token: Tokens.Text | Tokens.Escape) {
        return 'tokens' in token && token.tokens ? this.parser.parseInline(token.tokens) : false;
      },
      // An HTML comment is a note for maintainers (the figure markers `npm run figures` checks):
      // GitHub does not show it, and neither do we. Other HTML is marked-terminal's to render.
      html(token: Tokens.HTML | Tokens.Tag) {
        const text = token.text.replace(/<!--[\s\S]*?-->[ \t]*\n?/g, '');
        if (text === token.text) return false;
        if (text.trim() === '') return '';
        token.text = text;
        return false;
      },
      table(token: Tokens.Table) {
        const cell = (c: Tokens.TableCell) => plainInline(this.parser.parseInline(c.tokens));
        return `${drawTable(
          token.header.map(cell),
          token.rows.map((row) => row.map(cell)),
          width - 2,
        )}\n\n`;
      },
    },
  });
  const out = marked.parse(markdown, { async: false }) as string;
  return colour ? out : stripAnsi(out);
}

/** A table cell as plain text: marked-terminal's colours and placeholders removed. */
function plainInline(rendered: string): string {
  return stripAnsi(rendered)
    .replaceAll('*#COLON|*', ':')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&#39;', "'")
    .replaceAll('&amp;', '&');
}

/** Word-wrap `text` to `width` columns, breaking words longer than a line. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (let word of text.split(/\s+/).filter(Boolean)) {
    while (word.length > width) {
      if (line) lines.push(line);
      lines.push(word.slice(0, width));
      word = word.slice(width);
      line = '';
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line || lines.length === 0) lines.push(line);
  return lines;
}

/**
 * A table that fits the terminal: columns keep their natural width when they can; when
 * they cannot, the widest column gives up width first and its cells wrap.
 */
export function drawTable(header: string[], rows: string[][], width: number): string {
  const n = header.length;
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(1, ...all.map((r) => (r[i] ?? '').length)));
  const available = Math.max(n * 6, width - (3 * n + 1));
  while (widths.reduce((a, b) => a + b, 0) > available) {
    const widest = widths.indexOf(Math.max(...widths));
    if ((widths[widest] ?? 0) <= 6) break;
    widths[widest] = (widths[widest] ?? 0) - 1;
  }
  // Rows that wrap onto several lines need a rule between them to be told apart.
  const wraps = rows.some((r) => r.some((cell, i) => cell.length > (widths[i] ?? 0)));
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  const row = (cells: string[], style: (s: string) => string) => {
    const wrapped = widths.map((w, i) => wrap(cells[i] ?? '', w));
    const height = Math.max(...wrapped.map((w) => w.length));
    const out: string[] = [];
    for (let k = 0; k < height; k++) {
      out.push(`│ ${wrapped.map((w, i) => style((w[k] ?? '').padEnd(widths[i] ?? 0))).join(' │ ')} │`);
    }
    return out;
  };
  return [
    rule('┌', '┬', '┐'),
    ...row(header, c.bold),
    rule('├', '┼', '┤'),
    ...rows.flatMap((r, i) => [...(i > 0 && wraps ? [rule('├', '┼', '┤')] : []), ...row(r, (s) => s)]),
    rule('└', '┴', '┘'),
  ].join('\n');
}

/**
 * `cachelab read NN`: a lesson rendered for the terminal, paged on a terminal, printed plainly
 * everywhere else (or, with --exercise, an exercise's task). A lesson split into steps
 * (lesson-steps.ts) is read one step at a time: `read 05` is step 1 and ends with how to go
 * on, `read 05.2` (or `5.2`, or `read 05 --step 2`) step 2, `read 05 --all` all of it in
 * order. Each step shown is recorded in progress.
 */
export async function read(
  query: string,
  options: { exercise?: boolean; step?: string; all?: boolean } = {},
): Promise<number> {
  if (options.exercise) {
    if (options.step !== undefined || options.all || parseReadQuery(query).step !== undefined)
      throw new UserError(
        `An exercise's task is one page: \`npx cachelab read ${parseReadQuery(query).lesson} --exercise\`.`,
        2,
      );
    const exercise = findExercise(query);
    if (!exercise) {
      const ids = listExercises()
        .map((x) => x.id)
        .join(', ');
      throw new UserError(`There is no exercise "${query}". Exercises: ${ids}.`, 2);
    }
    const file = join(exercise.dir, 'README.md');
    if (!existsSync(file)) throw new UserError(`${relative(REPO_ROOT, exercise.dir)} has no README.md yet.`);
    await page(
      `${renderMarkdown(readFileSync(file, 'utf8')).trimEnd()}\n\n${c.dim(`— ${relative(REPO_ROOT, file)}`)}\n`,
    );
    return 0;
  }
  const request = readRequest(query, options);
  const lesson = findLesson(request.lesson);
  if (!lesson) {
    const ids = listLessons()
      .map((x) => x.id)
      .join(', ');
    throw new UserError(`There is no lesson "${request.lesson}". Lessons: ${ids}.`, 2);
  }
  const reading = renderLesson(lesson, request);
  const now = new Date().toISOString();
  updateProgress((p) => {
    p.visited[lesson.id] = now;
    const steps = p.visitedSteps[lesson.id] ?? {};
    for (const n of reading.shown) steps[String(n)] = now;
    p.visitedSteps[lesson.id] = steps;
  });
  await page(reading.text);
  return 0;
}

/** Which lesson and which step(s) `read` was asked for: NN, NN.M, --step M, --all. Bad input: exit 2. */
export function readRequest(
  query: string,
  options: { step?: string; all?: boolean } = {},
): { lesson: string; step?: number; all: boolean } {
  const parsed = parseReadQuery(query);
  let step = parsed.step;
  if (options.step !== undefined) {
    if (!/^\s*\d+\s*$/.test(options.step) || Number(options.step) < 1)
      throw new UserError(`--step ${options.step}: a step is a number from 1, e.g. --step 2.`, 2);
    const asked = Number(options.step);
    if (step !== undefined && step !== asked)
      throw new UserError(`"${query}" is step ${step}, and --step says ${asked}: give one of them.`, 2);
    step = asked;
  }
  if (step === 0) throw new UserError(`"${query}": steps are numbered from 1 (the lesson's README).`, 2);
  if (options.all && step !== undefined)
    throw new UserError(
      `--all shows every step: leave out the step (\`npx cachelab read ${parsed.lesson} --all\`).`,
      2,
    );
  return { lesson: parsed.lesson, ...(step !== undefined ? { step } : {}), all: Boolean(options.all) };
}

/**
 * A lesson's step (default: step 1), or all its steps with --all, rendered, with a footer:
 * where the text is and how to go on. Throws a UserError (exit 2) naming the lesson's steps
 * when there is no such step.
 */
export function renderLesson(
  lesson: Lesson,
  request: { step?: number; all?: boolean },
  options: { colour?: boolean; width?: number; root?: string } = {},
): { text: string; shown: number[] } {
  const root = options.root ?? REPO_ROOT;
  const colour = options.colour ?? colourWanted();
  const plain = (text: string) => (colour ? text : stripAnsi(text));
  const steps = listSteps(lesson);
  const where = (step: Step) => relative(root, step.path);
  const missing = steps.filter((s) => !existsSync(s.path));
  if (missing.length > 0) throw new UserError(`${where(missing[0] as Step)} does not exist yet.`);
  const render = (step: Step) => renderMarkdown(readFileSync(step.path, 'utf8'), { ...options, colour }).trimEnd();
  const total = steps.length;
  if (request.all) {
    const parts = steps.map((step, i) => {
      const rule = c.dim(`── step ${step.number} of ${total} · ${where(step)} ──`);
      return `${i === 0 ? '' : `${rule}\n\n`}${render(step)}`;
    });
    const footer = total === 1 ? `— ${where(steps[0] as Step)}` : `— lessons/${lesson.name}: ${total} steps`;
    return { text: plain(`${parts.join('\n\n')}\n\n${c.dim(footer)}\n`), shown: steps.map((s) => s.number) };
  }
  const n = request.step ?? 1;
  const index = steps.findIndex((s) => s.number === n);
  const step = steps[index];
  if (!step) {
    const list = steps.map((s) => `${s.number === 1 ? lesson.id : `${lesson.id}.${s.number}`} ${stepTitle(s)}`);
    throw new UserError(`Lesson ${lesson.id} has no step ${n}. Its steps: ${list.join(' · ')}.`, 2);
  }
  const footer: string[] = [c.dim(`— ${where(step)}${total > 1 ? ` · step ${step.number} of ${total}` : ''}`)];
  const next = steps[index + 1];
  if (next) footer.push(`Next: step ${next.number}, ${stepTitle(next)} — \`${readCommand(lesson.id, next.number)}\``);
  else if (total > 1)
    footer.push(
      c.dim(
        `That was the last step of lesson ${lesson.id}. All of it on one page: npx cachelab read ${lesson.id} --all`,
      ),
    );
  return { text: plain(`${render(step)}\n\n${footer.join('\n')}\n`), shown: [step.number] };
}
