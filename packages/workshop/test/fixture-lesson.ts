import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../src/repo.ts';

/**
 * Throwaway lesson trees for the steps tests: a root inside the repository's git-ignored
 * `.cachelab/` with `lessons/NN-slug/README.md`, `steps/M-slug.md` and `appendix.md` written
 * from the convention (lesson-steps.ts), so that each test breaks exactly one rule of it.
 */
export interface FixtureTree {
  root: string;
  write(path: string, text: string): void;
  dispose(): void;
}

export function fixtureTree(tag: string): FixtureTree {
  const root = join(REPO_ROOT, '.cachelab', `test-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(root, { recursive: true });
  return {
    root,
    write(path, text) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    },
    dispose() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** `n` words of prose, in lines of 12. */
export function words(n: number): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i += 12)
    lines.push(
      Array.from({ length: Math.min(12, n - i) }, (_, k) => `word${i + k}`)
        .join(' ')
        .concat('.'),
    );
  return lines.join('\n');
}

export interface StepTextOptions {
  /** Two digits. */
  lesson: string;
  /** 1 for the README. */
  step: number;
  title: string;
  /** Bullets under "## You will learn" (default 3; 0 leaves the section out). */
  learn?: number;
  /** Bullets under "## Takeaways" (default 3; 0 leaves the section out). */
  takeaways?: number;
  /** The README's Steps line, for a lesson with steps: [number, title, file] of each later step. */
  steps?: [number, string, string][];
  /** Step 1's own title in the Steps line (default: `title`). */
  firstStep?: string;
  /** Words of content (default 200). */
  content?: number;
  /** Markdown put at the end of the content (a link to the appendix, a figure marker). */
  extra?: string;
  /** Lines under "## Next". */
  next?: string;
  checkYourself?: boolean;
}

/** A step file that follows the convention, unless the options say otherwise. */
export function stepText(o: StepTextOptions): string {
  const head = o.step === 1 ? `# Lesson ${o.lesson} — ${o.title}` : `# Lesson ${o.lesson}, step ${o.step} — ${o.title}`;
  const learn = o.learn ?? 3;
  const takeaways = o.takeaways ?? 3;
  const parts = [head, '', `The situation of ${o.title.toLowerCase()}, in one short paragraph.`, ''];
  if (learn > 0) {
    parts.push('## You will learn', '');
    for (let i = 1; i <= learn; i++) parts.push(`- Thing ${i} of ${o.title}.`);
    parts.push('');
  }
  if (o.steps)
    parts.push(
      `**Steps:** 1. ${o.firstStep ?? o.title} (this page) · ${o.steps.map(([n, t, f]) => `${n}. [${t}](${f})`).join(' · ')}`,
      '',
    );
  parts.push(
    `## ${o.title}: the idea`,
    '',
    words(o.content ?? 200),
    '',
    '```ts',
    'const code = "not counted";',
    '```',
    '',
  );
  if (o.extra) parts.push(o.extra, '');
  if (takeaways > 0) {
    parts.push('## Takeaways', '');
    for (let i = 1; i <= takeaways; i++) parts.push(`- Takeaway ${i}.`);
    parts.push('');
  }
  parts.push('## Next', '', o.next ?? `Go on: \`npx cachelab read ${o.lesson}.${o.step + 1}\`.`, '');
  if (o.checkYourself) parts.push('## Check yourself', '', '`npx cachelab quiz 05`', '');
  parts.push('## Links', '', '- [Somewhere](https://example.com)', '');
  return parts.join('\n');
}

/**
 * Lesson 05 of a fixture tree in three steps and an appendix, every rule kept:
 * README.md (lesson "Ideas", step 1 "A TTL per kind"), steps/2-delete-on-write.md, steps/3-tags.md,
 * appendix.md.
 */
export function writeGoodLesson(tree: FixtureTree, name = '05-fixture'): void {
  const lesson = name.slice(0, 2);
  const steps: [number, string, string][] = [
    [2, 'Delete on write', 'steps/2-delete-on-write.md'],
    [3, 'Versions and tags', 'steps/3-tags.md'],
  ];
  tree.write(
    `lessons/${name}/README.md`,
    stepText({
      lesson,
      step: 1,
      title: 'Ideas',
      firstStep: 'A TTL per kind',
      steps,
      extra: 'How it was measured: [the appendix](appendix.md#method).',
    }),
  );
  tree.write(`lessons/${name}/steps/2-delete-on-write.md`, stepText({ lesson, step: 2, title: 'Delete on write' }));
  tree.write(
    `lessons/${name}/steps/3-tags.md`,
    stepText({ lesson, step: 3, title: 'Versions and tags', checkYourself: true, next: 'Solve exercise 07.' }),
  );
  tree.write(`lessons/${name}/appendix.md`, `# Lesson ${lesson} — appendix\n\n## Method\n\n${words(3000)}\n`);
}
