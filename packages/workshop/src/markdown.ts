/**
 * What the workshop reads out of Markdown without rendering it: headings and the anchors GitHub
 * gives them, the prose outside code blocks and HTML comments, and its word count. One place,
 * so that the quiz's See: links, the steps lint, `cachelab read` and the link test agree on
 * what a heading, an anchor and a word are.
 */

/** A line of a Markdown text as prose sees it. */
export interface ProseLine {
  /** 1-based, in the original text. */
  line: number;
  /** The line with its HTML comments removed; '' for a line inside a fenced code block. */
  text: string;
  /** Inside a fenced code block (its fences included). */
  code: boolean;
}

/**
 * Every line of `markdown`, with HTML comments (`<!-- … -->`, also across lines: the figure
 * markers) blanked and fenced code blocks (``` or ~~~, closed by the same mark) flagged. Line
 * numbers stay those of the file, for messages that name a line.
 */
export function proseLines(markdown: string): ProseLine[] {
  const uncommented = markdown.replace(/<!--[\s\S]*?-->/g, (comment) => comment.replace(/[^\n]/g, ''));
  const out: ProseLine[] = [];
  let fence: string | undefined;
  uncommented.split(/\r?\n/).forEach((text, i) => {
    const fenceMark = /^\s*(```|~~~)/.exec(text)?.[1];
    if (fence) {
      if (fenceMark === fence) fence = undefined;
      out.push({ line: i + 1, text: '', code: true });
      return;
    }
    if (fenceMark) {
      fence = fenceMark;
      out.push({ line: i + 1, text: '', code: true });
      return;
    }
    out.push({ line: i + 1, text, code: false });
  });
  return out;
}

export interface Heading {
  /** 1 for `#`, 2 for `##` … */
  level: number;
  /** As written, without the #s. */
  title: string;
  /** GitHub's anchor, with -1, -2 … for repeats. */
  anchor: string;
  line: number;
}

/** The headings of a Markdown document outside code blocks and comments, in order. */
export function headings(markdown: string): Heading[] {
  const out: Heading[] = [];
  const seen = new Map<string, number>();
  for (const { line, text, code } of proseLines(markdown)) {
    if (code) continue;
    const heading = /^(#{1,6})\s+(.+?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const title = heading[2] as string;
    const base = githubSlug(title);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: (heading[1] as string).length, title, anchor: n === 0 ? base : `${base}-${n}`, line });
  }
  return out;
}

/**
 * The headings of a Markdown document, outside code blocks: anchor → heading text. Anchors as
 * GitHub makes them (lower case, punctuation dropped, each space a dash, -1, -2 … for repeats).
 */
export function readmeSections(markdown: string): Map<string, string> {
  return new Map(headings(markdown).map((h) => [h.anchor, h.title]));
}

/** GitHub's heading anchor (github-slugger's rule, on the heading's rendered text). */
export function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .replace(/`/g, '')
    .replace(/(\*\*|__)(.+?)\1/g, '$2')
    .replace(/(^|[^\p{L}\p{N}])[*_](.+?)[*_](?=[^\p{L}\p{N}]|$)/gu, '$1$2');
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** " (did you mean #x?)" for the anchor sharing the most words with `anchor`, or ''. */
export function closestAnchor(anchor: string, anchors: Iterable<string>): string {
  const words = new Set(anchor.split('-').filter((w) => w.length > 2));
  let best: { anchor: string; score: number } | undefined;
  for (const a of anchors) {
    const score = a.split('-').filter((w) => words.has(w)).length;
    if (score > 0 && (!best || score > best.score)) best = { anchor: a, score };
  }
  return best ? ` (did you mean #${best.anchor}?)` : '';
}

/**
 * The words a reader reads: outside fenced code blocks and HTML comments, a word being a run
 * of non-space characters with a letter or a digit in it (a table's `|` or a list's `-` is not
 * one; `cache-aside`, `404` and `[link](url)` are one each). Never more than `wc -w` counts.
 */
export function countWords(markdown: string): number {
  let words = 0;
  for (const { text, code } of proseLines(markdown)) {
    if (code) continue;
    for (const token of text.split(/\s+/)) if (/[\p{L}\p{N}]/u.test(token)) words++;
  }
  return words;
}

/** A top-level list item: `- x`, `* x`, `+ x` or `1. x` at the start of a line. */
export const LIST_ITEM = /^(?:[-*+]|\d+[.)])\s+\S/;
