import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { githubSlug, readmeSections } from '../src/markdown.ts';
import { brokenLinks, markdownAnchors, markdownLinks, workshopMarkdown } from '../src/markdown-links.ts';
import { REPO_ROOT } from '../src/repo.ts';
import { fixtureTree } from './fixture-lesson.ts';

/**
 * Every relative link and #anchor in the texts a learner or maintainer reads leads somewhere:
 * lessons/, exercises/, solutions/, each package's README.md and the root README.md. A lesson
 * split into steps moves sections between files; a link into a moved section would break
 * silently on GitHub (the page opens, the anchor is ignored).
 */

describe('the workshop’s Markdown', () => {
  const files = workshopMarkdown();

  it('covers lessons, exercises, solutions, the packages’ READMEs and the root README', () => {
    const relative = files.map((f) => f.slice(REPO_ROOT.length + 1));
    expect(relative).toContain('README.md');
    for (const top of ['lessons/', 'exercises/', 'solutions/'])
      expect(relative.some((f) => f.startsWith(top))).toBe(true);
    expect(relative.some((f) => f.includes('node_modules'))).toBe(false);
    expect(
      relative.filter((f) => f.startsWith('packages/')).every((f) => /^packages\/[^/]+\/README\.md$/.test(f)),
    ).toBe(true);
  });

  it('has no broken relative link and no #anchor that is not a heading', () => {
    expect(brokenLinks(files)).toEqual([]);
  });
});

describe('GitHub’s anchors', () => {
  it('lower case, punctuation dropped, each space a dash, repeats numbered -1, -2', () => {
    expect(githubSlug('Lesson 05 — Invalidation: knowing when to forget')).toBe(
      'lesson-05--invalidation-knowing-when-to-forget',
    );
    expect(githubSlug('When: after the commit, not before')).toBe('when-after-the-commit-not-before');
    expect(githubSlug('What "fit" means')).toBe('what-fit-means');
    expect(githubSlug('Answering 304 (RFC 9110 §13)')).toBe('answering-304-rfc-9110-13');
    expect(githubSlug('`peek()` and **the hit path**')).toBe('peek-and-the-hit-path');
    expect(githubSlug('[Links](https://example.com) and snake_case')).toBe('links-and-snake_case');
    expect([...readmeSections('# T\n\n## Pitfalls\n\n## Pitfalls\n\n## Pitfalls\n').keys()]).toEqual([
      't',
      'pitfalls',
      'pitfalls-1',
      'pitfalls-2',
    ]);
  });

  it('are the headings outside code blocks and comments, and explicit ids', () => {
    const anchors = markdownAnchors(
      '# Title\n\n```sh\n# not a heading\n```\n\n<!--\n## Not one either\n-->\n\n<a id="kept-here"></a>\n',
    );
    expect([...anchors]).toEqual(['title', 'kept-here']);
  });
});

describe('links', () => {
  const tree = fixtureTree('links');
  afterAll(() => tree.dispose());

  it('are read from inline links, images, reference definitions, then HTML, never from code', () => {
    const links = markdownLinks(
      [
        'See [step 2](steps/2-x.md#why) and ![a chart](chart.png "a title").',
        '`[not a link](nowhere.md)` and [a link](<with space.md>).',
        '```md',
        '[in a code block](nowhere.md)',
        '```',
        '[ref]: ../README.md#top',
        '<a href="other.md#there">HTML</a> and [a section](#here)',
        '[a nested [1] text](nested.md)',
      ].join('\n'),
    );
    expect(links.map((l) => [l.line, l.target])).toEqual([
      [1, 'steps/2-x.md#why'],
      [1, 'chart.png'],
      [2, 'with space.md'],
      [6, '../README.md#top'],
      [7, '#here'],
      [7, 'other.md#there'],
      [8, 'nested.md'],
    ]);
  });

  it('each broken one is named with its file, line, target and what is wrong', () => {
    tree.write('lessons/05-x/steps/2-on-write.md', '# Lesson 05, step 2 — On write\n\n## After the commit\n');
    tree.write('lessons/05-x/src/app.ts', '');
    tree.write(
      'lessons/05-x/README.md',
      [
        '# Lesson 05 — X',
        '',
        '## Here',
        '',
        '[fine](steps/2-on-write.md#after-the-commit) [fine](#here) [fine](src/app.ts#L3) [fine](src/)',
        '[web](https://example.com/nowhere#x) [mail](mailto:a@b.c)',
        '[moved](#after-the-commit) [gone](steps/3-tags.md) [typo](steps/2-on-write.md#after-commit)',
        '[empty](#)',
      ].join('\n'),
    );
    expect(brokenLinks([join(tree.root, 'lessons/05-x/README.md')], tree.root)).toEqual([
      'lessons/05-x/README.md:7: #after-the-commit: #after-the-commit is not a heading of this file',
      'lessons/05-x/README.md:7: steps/3-tags.md: lessons/05-x/steps/3-tags.md does not exist',
      'lessons/05-x/README.md:7: steps/2-on-write.md#after-commit: #after-commit is not a heading of lessons/05-x/steps/2-on-write.md (did you mean #after-the-commit?)',
      'lessons/05-x/README.md:8: #: an empty #anchor',
    ]);
  });
});
