import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Marked, type Tokens } from 'marked';
import { markedTerminal } from 'marked-terminal';
import { c, UserError } from '../output.ts';
import { updateProgress } from '../progress.ts';
import { findExercise, findLesson, listExercises, listLessons, REPO_ROOT } from '../repo.ts';
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
 * `cachelab read NN`: a lesson's README (or, with --exercise, an exercise's task) rendered
 * for the terminal, paged on a terminal, printed plainly everywhere else.
 */
export async function read(query: string, options: { exercise?: boolean } = {}): Promise<number> {
  const target = options.exercise ? findExercise(query) : findLesson(query);
  if (!target) {
    const ids = (options.exercise ? listExercises() : listLessons()).map((x) => x.id).join(', ');
    const what = options.exercise ? 'exercise' : 'lesson';
    throw new UserError(`There is no ${what} "${query}". ${what === 'lesson' ? 'Lessons' : 'Exercises'}: ${ids}.`, 2);
  }
  const file = join(target.dir, 'README.md');
  if (!existsSync(file)) throw new UserError(`${relative(REPO_ROOT, target.dir)} has no README.md yet.`);
  const text = renderMarkdown(readFileSync(file, 'utf8'));
  const footer = c.dim(`— ${relative(REPO_ROOT, file)}`);
  if (!options.exercise) {
    updateProgress((p) => {
      p.visited[target.id] = new Date().toISOString();
    });
  }
  await page(`${text.trimEnd()}\n\n${footer}\n`);
  return 0;
}
