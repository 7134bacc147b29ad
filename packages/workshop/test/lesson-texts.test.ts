import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LESSONS_NOT_YET_IN_STEPS,
  lessonsAwaitingSteps,
  lintLessonSteps,
  lintLessonTexts,
  lintStructure,
} from '../src/commands/check.ts';
import { countWords } from '../src/markdown.ts';
import { findLesson, listLessons } from '../src/repo.ts';
import { fixtureTree, stepText, words, writeGoodLesson } from './fixture-lesson.ts';
import { cachelab, createLearner } from './learner-kit.ts';

/**
 * `cachelab check`'s lint of the lessons' texts in short steps (issue 17 item 1): each rule of
 * the convention broken once on a fixture lesson, the exemption list that cannot rot, and the
 * real lessons as they are now.
 */

const tree = fixtureTree('lesson-texts');
afterAll(() => tree.dispose());

/** A good lesson `NN-slug`, changed by `change`, and what the lint says of it. */
function lint(name: string, change: (dir: string) => void = () => {}): string[] {
  writeGoodLesson(tree, name);
  change(`lessons/${name}`);
  const lesson = findLesson(name.slice(0, 2), tree.root);
  if (!lesson) throw new Error(`no lesson ${name}`);
  return lintLessonSteps(lesson, tree.root);
}

describe('the steps lint, on fixture lessons', () => {
  it('a lesson that follows the convention has no problem', () => {
    expect(lint('01-good')).toEqual([]);
  });

  it('a step too long: its word count, counted outside code blocks and comments', () => {
    const long = words(2100);
    const problems = lint('02-too-long', (dir) =>
      tree.write(
        `${dir}/steps/2-delete-on-write.md`,
        stepText({ lesson: '02', step: 2, title: 'Delete on write', content: 2100 }),
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(
        /^lessons\/02-too-long\/steps\/2-delete-on-write\.md: 2,1\d\d words, at most 2,000 \(outside code blocks and HTML comments\): split it along a seam into steps\/M-slug\.md, or move methodology to appendix\.md\.$/,
      ),
    ]);
    // The same words in a code block or a comment are not read as prose.
    expect(countWords(`Two words.\n\n\`\`\`\n${long}\n\`\`\`\n\n<!-- ${long}\n-->\n| a | b |\n`)).toBe(4);
    const hidden = lint('03-code-not-counted', (dir) =>
      tree.write(
        `${dir}/steps/2-delete-on-write.md`,
        stepText({
          lesson: '03',
          step: 2,
          title: 'Delete on write',
          content: 1500,
          extra: `\`\`\`\n${long}\n\`\`\`\n\n<!-- figures: npx tsx a.ts\n${long}\n-->`,
        }),
      ),
    );
    expect(hidden).toEqual([]);
  });

  it('"## You will learn" with 2 bullets', () => {
    expect(
      lint('04-two-bullets', (dir) =>
        tree.write(
          `${dir}/steps/3-tags.md`,
          stepText({ lesson: '04', step: 3, title: 'Tags', learn: 2, checkYourself: true }),
        ),
      ),
    ).toEqual([
      'lessons/04-two-bullets/steps/3-tags.md:5: "## You will learn" has 2 bullets; exactly 3 wanted (what the reader will be able to do after this step).',
    ]);
  });

  it('no "## Takeaways"', () => {
    expect(
      lint('05-no-takeaways', (dir) =>
        tree.write(`${dir}/steps/2-delete-on-write.md`, stepText({ lesson: '05', step: 2, title: 'D', takeaways: 0 })),
      ),
    ).toEqual([
      'lessons/05-no-takeaways/steps/2-delete-on-write.md: no "## Takeaways": 3–5 bullets at the end of the step, what to remember from it.',
    ]);
  });

  it('steps that are not numbered 2, 3 … without gaps', () => {
    const problems = lint('06-gap', (dir) => {
      rmSync(join(tree.root, dir, 'steps/3-tags.md'));
      tree.write(`${dir}/steps/4-tags.md`, stepText({ lesson: '06', step: 4, title: 'Tags', checkYourself: true }));
      tree.write(`${dir}/steps/notes.md`, '# Notes\n');
    });
    expect(problems).toContain(
      "lessons/06-gap/steps/notes.md: not a step's name. Steps are steps/M-slug.md, M from 2 (step 1 is the README): steps/2-delete-on-write.md.",
    );
    expect(problems).toContain(
      "lessons/06-gap/steps/4-tags.md: is step 4 but comes 3rd: number the steps 2, 3, 4 … without gaps or repeats (the lesson's steps: 2-delete-on-write.md, 4-tags.md).",
    );
    // …and the README's Steps line still names steps/3-tags.md.
    expect(problems.join('\n')).toContain(
      'lessons/06-gap/README.md:11: the **Steps:** line must list every step in order',
    );
  });

  it('an appendix no step links to', () => {
    const problems = lint('07-unlinked-appendix', (dir) => {
      const readme = readFileSync(join(tree.root, dir, 'README.md'), 'utf8');
      tree.write(`${dir}/README.md`, readme.replace('[the appendix](appendix.md#method)', 'the appendix'));
    });
    expect(problems).toEqual([
      'lessons/07-unlinked-appendix/appendix.md: no step links to it. Link it from the step whose caveat it explains: one sentence saying what it means for the reader, and [the appendix](../appendix.md#section).',
    ]);
  });

  it('a title line, a Steps line, the sections after Takeaways and Check yourself out of place', () => {
    const problems = lint('08-misc', (dir) => {
      const readme = readFileSync(join(tree.root, dir, 'README.md'), 'utf8');
      tree.write(
        `${dir}/README.md`,
        readme
          .replace('# Lesson 08 — Ideas', '# Ideas')
          .replace(' · 3. [Versions and tags](steps/3-tags.md)', '')
          .replace('## Links', '## Pitfalls\n\nOne.\n\n## Links'),
      );
      tree.write(
        `${dir}/steps/2-delete-on-write.md`,
        `${stepText({ lesson: '08', step: 2, title: 'Delete on write', checkYourself: true, next: 'a\nb\nc' })}`,
      );
    });
    expect(problems).toEqual([
      'lessons/08-misc/README.md:1: the first line must be "# Lesson 08 — Title" (it is "# Ideas").',
      'lessons/08-misc/README.md:11: the **Steps:** line must list every step in order, this page first: **Steps:** 1. Title (this page) · 2. [Title](steps/2-delete-on-write.md) · 3. [Title](steps/3-tags.md)',
      'lessons/08-misc/README.md:49: "## Pitfalls" after "## Takeaways": only ## Next, ## Check yourself, ## Links may follow it (move the section before the Takeaways).',
      'lessons/08-misc/steps/2-delete-on-write.md:41: "## Next" has 3 lines; one or two: the next step (`npx cachelab read 08.3`) and/or the exercise to solve now.',
      'lessons/08-misc/steps/2-delete-on-write.md:47: "## Check yourself" goes in the lesson\'s last step, not in step 2.',
    ]);
  });

  it('a one-page lesson needs no Steps line, and must not have one', () => {
    tree.write(
      'lessons/09-one-page/README.md',
      stepText({ lesson: '09', step: 1, title: 'One page', checkYourself: true }),
    );
    const lesson = findLesson('09', tree.root) as NonNullable<ReturnType<typeof findLesson>>;
    expect(lintLessonSteps(lesson, tree.root)).toEqual([]);
    tree.write(
      'lessons/09-one-page/README.md',
      stepText({ lesson: '09', step: 1, title: 'One page', steps: [[2, 'Gone', 'steps/2-gone.md']] }),
    );
    expect(lintLessonSteps(lesson, tree.root)).toEqual([
      'lessons/09-one-page/README.md:11: a **Steps:** line, but the lesson has no steps/ (a lesson of at most 2,000 words is one page).',
    ]);
  });
});

describe('LESSONS_NOT_YET_IN_STEPS: the lessons not rewritten yet', () => {
  const exempt = fixtureTree('lesson-texts-exempt');
  afterAll(() => exempt.dispose());
  writeGoodLesson(exempt, '01-done');
  exempt.write('lessons/02-old/README.md', `# Lesson 02 — Old\n\n${words(2500)}\n`);
  exempt.write('lessons/03-old-too/README.md', '# Old too\n\nNo sections.\n');

  it('a listed lesson without "## You will learn" is not linted, and check names it in a warning', () => {
    expect(lintLessonTexts(exempt.root, ['02-old', '03-old-too'])).toEqual([]);
    expect(lessonsAwaitingSteps(exempt.root, ['02-old', '03-old-too'])).toEqual(['02-old', '03-old-too']);
  });

  it('a lesson not listed is linted strictly', () => {
    expect(lintLessonTexts(exempt.root, ['02-old'])).toEqual([
      'lessons/03-old-too/README.md:1: the first line must be "# Lesson 03 — Title" (it is "# Old too").',
      'lessons/03-old-too/README.md: no "## You will learn": after the title (and at most a short intro paragraph), 3 bullets saying what the reader will be able to do after this page.',
      'lessons/03-old-too/README.md: no "## Takeaways": 3–5 bullets at the end of the page, what to remember from it.',
    ]);
  });

  it('a listed lesson that follows the convention already is a failure: take it out of the list', () => {
    expect(lintLessonTexts(exempt.root, ['01-done', '02-old', '03-old-too'])).toEqual([
      'lessons/01-done: its README follows the steps convention now ("## You will learn"): remove it from LESSONS_NOT_YET_IN_STEPS (packages/workshop/src/commands/check.ts), so that it is linted like the others.',
    ]);
    expect(lessonsAwaitingSteps(exempt.root, ['01-done', '02-old', '03-old-too'])).toEqual(['02-old', '03-old-too']);
  });

  it('a listed name that is no lesson is a failure too', () => {
    expect(lintLessonTexts(exempt.root, ['02-old', '03-old-too', '04-gone'])).toEqual([
      'LESSONS_NOT_YET_IN_STEPS (packages/workshop/src/commands/check.ts) names 04-gone, which is not a lesson folder: remove it from the list.',
    ]);
  });

  it('is part of the structure lint', () => {
    const problems = lintStructure(exempt.root, ['01-done', '02-old']);
    expect(problems).toContain(
      'lessons/01-done: its README follows the steps convention now ("## You will learn"): remove it from LESSONS_NOT_YET_IN_STEPS (packages/workshop/src/commands/check.ts), so that it is linted like the others.',
    );
    expect(problems.some((p) => p.startsWith('lessons/03-old-too/README.md:1: the first line'))).toBe(true);
    expect(problems.some((p) => p.startsWith('lessons/02-old/README.md'))).toBe(false);
  });
});

describe('the real lessons', () => {
  it('cachelab check names the lessons not in steps yet in one warning line, not as a failure', async () => {
    const learner = createLearner('lesson-texts');
    try {
      // No exercise 99: check stops after the structure lint, before running anything.
      const { out } = await cachelab(['check', '99'], learner.env);
      const awaiting = lessonsAwaitingSteps();
      const line = out.split('\n').find((l) => l.startsWith('! lesson texts:'));
      if (awaiting.length === 0) expect(line).toBeUndefined();
      else
        expect(line).toBe(
          `! lesson texts: ${awaiting.length} not in steps yet, not linted (LESSONS_NOT_YET_IN_STEPS in packages/workshop/src/commands/check.ts): ${awaiting.join(', ')}`,
        );
    } finally {
      learner.dispose();
    }
  }, 60_000);

  it('each follows the convention or is listed in LESSONS_NOT_YET_IN_STEPS, and no listed one follows it yet', () => {
    expect(lintLessonTexts()).toEqual([]);
    expect(lessonsAwaitingSteps()).toEqual([...LESSONS_NOT_YET_IN_STEPS]);
    expect(listLessons().length).toBeGreaterThan(LESSONS_NOT_YET_IN_STEPS.length);
  });
});
