import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { closestAnchor, headings, proseLines } from './markdown.ts';
import { REPO_ROOT } from './repo.ts';

/**
 * Do the relative links of the workshop's Markdown lead somewhere? A lesson split into steps
 * moves sections between files, and a link into a moved section breaks without a sound on
 * GitHub (the page opens, the #anchor is silently ignored). test/markdown-links.test.ts runs
 * this over every text a learner or maintainer reads.
 *
 * - A link is `[text](target)` or `![alt](target)`, a reference definition `[label]: target`,
 *   or an HTML `href="…"` / `src="…"`, outside fenced code blocks, inline code and comments.
 * - URLs with a scheme (`https:`, `mailto:`) and protocol-relative ones are not checked here.
 * - The target, relative to the file (`#anchor` alone: the file itself), must exist, file or
 *   folder. An anchor into a Markdown file must be a heading's anchor as GitHub makes it
 *   (markdown.ts: lower case, punctuation dropped, spaces to dashes, -1, -2 for repeats) or an
 *   explicit `<a id="…">` / `name="…"`. Anchors into other files (`app.ts#L12`) are GitHub's
 *   line links: not checked.
 */

export interface Link {
  line: number;
  /** As written: `steps/2-x.md#anchor`. */
  target: string;
}

/** The links of one Markdown text, in order. */
export function markdownLinks(markdown: string): Link[] {
  const links: Link[] = [];
  for (const { line, text, code } of proseLines(markdown)) {
    if (code) continue;
    const prose = text.replace(/(`+)[\s\S]*?\1/g, (span) => ' '.repeat(span.length)); // inline code
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(prose);
    if (definition) links.push({ line, target: definition[1] as string });
    // [text](target "title"): the text may hold brackets one level deep ([`a[0]`](x) is gone
    // with the inline code above, [see [1]](x) is not).
    for (const m of prose.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)/g))
      links.push({ line, target: (m[1] as string).replace(/^<|>$/g, '') });
    for (const m of prose.matchAll(/\b(?:href|src)\s*=\s*["']([^"']*)["']/g))
      links.push({ line, target: m[1] as string });
  }
  return links.filter((l) => l.target !== '');
}

/** Anchors a Markdown file offers: its headings' and its explicit `<a id>` / `<a name>`. */
export function markdownAnchors(markdown: string): Set<string> {
  const anchors = new Set(headings(markdown).map((h) => h.anchor));
  for (const { text, code } of proseLines(markdown)) {
    if (code) continue;
    for (const m of text.matchAll(/<[a-z]+\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']/gi)) anchors.add(m[1] as string);
  }
  return anchors;
}

/**
 * Every broken relative link of `files` (absolute paths), as "path:line: target: what is wrong",
 * paths relative to `root`.
 */
export function brokenLinks(files: string[], root: string = REPO_ROOT): string[] {
  const anchorsOf = new Map<string, Set<string>>();
  const anchors = (path: string) => {
    let found = anchorsOf.get(path);
    if (!found) {
      found = markdownAnchors(readFileSync(path, 'utf8'));
      anchorsOf.set(path, found);
    }
    return found;
  };
  const problems: string[] = [];
  for (const file of files) {
    const at = relative(root, file);
    for (const { line, target } of markdownLinks(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
      const hash = target.indexOf('#');
      const pathPart = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? undefined : target.slice(hash + 1);
      let path: string;
      try {
        path = pathPart === '' ? file : resolve(dirname(file), decodeURIComponent(pathPart.split('?')[0] as string));
      } catch {
        problems.push(`${at}:${line}: ${target}: not a valid link (a stray %?)`);
        continue;
      }
      if (!existsSync(path)) {
        problems.push(`${at}:${line}: ${target}: ${relative(root, path)} does not exist`);
        continue;
      }
      if (anchor === undefined || !path.endsWith('.md') || statSync(path).isDirectory()) continue;
      if (anchor === '') {
        problems.push(`${at}:${line}: ${target}: an empty #anchor`);
        continue;
      }
      const offered = anchors(path);
      if (offered.has(anchor)) continue;
      const where = path === file ? 'this file' : relative(root, path);
      problems.push(
        `${at}:${line}: ${target}: #${anchor} is not a heading of ${where}${closestAnchor(anchor, offered)}`,
      );
    }
  }
  return problems;
}

/** `*.md` under `dir`, recursively, without node_modules and hidden folders. */
function markdownUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownUnder(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/**
 * The texts learners and maintainers read: every .md of lessons/, exercises/ and solutions/,
 * each package's README.md and the root README.md. Sorted.
 */
export function workshopMarkdown(root: string = REPO_ROOT): string[] {
  const packages = existsSync(join(root, 'packages'))
    ? readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'README.md'))
    : [];
  return [
    ...['lessons', 'exercises', 'solutions'].flatMap((top) => markdownUnder(join(root, top))),
    ...packages,
    join(root, 'README.md'),
  ]
    .filter((f) => existsSync(f))
    .sort();
}
