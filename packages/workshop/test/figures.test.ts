import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderMarkdown } from '../src/commands/read.ts';
import {
  declaredFigures,
  expandBraces,
  formatLike,
  lessonFigures,
  parseCommand,
  parseFigures,
  parseTolerance,
  rewrite,
  shortTextName,
  withinTolerance,
} from '../src/figures.ts';
import { REPO_ROOT } from '../src/repo.ts';
import { fixtureTree, stepText, writeGoodLesson } from './fixture-lesson.ts';

const README = `# A lesson

\`\`\`sh
npx tsx lessons/99-x/src/measure-x.ts --runs 3
\`\`\`

<!-- figures: npx tsx lessons/99-x/src/measure-x.ts --runs 3
healthy.commands  exact  Redis healthy … Redis commands {}
healthy.p50Ms     ×3     Redis healthy p50 {} ms
slow.p50Ms        ±20%   Redis slow p50 {} ms
-->
\`\`\`
Redis healthy   p50    1.7 ms   Redis commands  400   MISS 200
Redis slow      p50  103.6 ms   Redis commands   12   BYPASS 200
\`\`\`

<!-- figures: npx tsx lessons/99-x/src/measure-x.ts --runs 3
healthy.commands  exact  a miss costs {} commands
bytes             exact  counts 17,798,727 bytes for a {}-byte
-->
So a miss costs 400 commands, and the store counts 17,798,727 bytes for a
17,798,655-byte body.

Not marked: 400.
`;

describe('npm run figures: reading the markers', () => {
  const { figures, problems } = parseFigures('lessons/99-x/README.md', README);

  it('finds each figure in the block after its marker: a code block, or a paragraph even when reflowed', () => {
    expect(problems).toEqual([]);
    expect(figures.map((f) => [f.name, f.writtenText, f.line, f.toleranceText])).toEqual([
      ['healthy.commands', '400', 13, 'exact'],
      ['healthy.p50Ms', '1.7', 13, '×3'],
      ['slow.p50Ms', '103.6', 14, '±20%'],
      ['healthy.commands', '400', 21, 'exact'],
      ['bytes', '17,798,655', 22, 'exact'],
    ]);
    expect(figures[4]?.written).toBe(17_798_655);
    expect(figures.every((f) => f.command === 'npx tsx lessons/99-x/src/measure-x.ts --runs 3')).toBe(true);
    for (const f of figures) expect(README.slice(f.offset, f.offset + f.writtenText.length)).toBe(f.writtenText);
  });

  it('reports a marker whose text matches nothing, or more than once, or has a bad tolerance', () => {
    const bad = parseFigures(
      'x.md',
      '<!-- figures: npx tsx a.ts\nn1 exact p50 {} ms\nn2 exact nowhere {}\nn3 about p50 {} ms\nn4 exact no number\n-->\n```\np50 1 ms p50 2 ms\n```\n<!-- figures: npx tsx a.ts\nn5 exact x {}\n',
    );
    expect(bad.figures).toEqual([]);
    expect(bad.problems).toEqual([
      'x.md:2: n1: "p50 {} ms" matches 2 times in the block at line 7',
      'x.md:3: n2: "nowhere {}" matches nothing in the block at line 7',
      'x.md:4: n3: "about" is not a tolerance (exact, ±5, ±20%, ×3)',
      'x.md:5: n4: the text must hold {} exactly once, where the number is',
      'x.md:10: the marker is never closed with -->',
    ]);
  });

  it('# stands for any number that is not the figure: a row label that may change', () => {
    const { figures: f, problems: p } = parseFigures(
      'x.md',
      '<!-- figures: npx tsx a.ts\nsmall exact | redis | # B | {} |\nlarge exact | redis | # KB | {} |\n-->\n| redis | 207 B | 14.3 |\n| redis | 100 KB | 66.7 |\n',
    );
    expect(p).toEqual([]);
    expect(f.map((x) => x.writtenText)).toEqual(['14.3', '66.7']);
  });

  it('never reads a number out of a longer one', () => {
    const { figures: f } = parseFigures(
      'x.md',
      '<!-- figures: npx tsx a.ts\nn exact took {} ms\n-->\nit took 12.5 ms\n',
    );
    expect(f.map((x) => x.writtenText)).toEqual(['12.5']);
    const none = parseFigures('x.md', '<!-- figures: npx tsx a.ts\nn exact took 2{} ms\n-->\nit took 12.5 ms\n');
    expect(none.problems).toHaveLength(1);
  });
});

describe('npm run figures: comparing', () => {
  const figure = (writtenText: string, tolerance: string) => ({
    writtenText,
    written: Number(writtenText.replaceAll(',', '')),
    tolerance: parseTolerance(tolerance) ?? { kind: 'exact' as const },
  });

  it('compares at the precision written, within the tolerance', () => {
    expect(withinTolerance(figure('17.8', 'exact'), 17.798655)).toBe(true);
    expect(withinTolerance(figure('400', 'exact'), 600)).toBe(false);
    expect(withinTolerance(figure('70', '±5'), 74.6)).toBe(true);
    expect(withinTolerance(figure('70', '±5'), 75.6)).toBe(false);
    expect(withinTolerance(figure('100', '±20%'), 119.9)).toBe(true);
    expect(withinTolerance(figure('100', '±20%'), 121)).toBe(false);
    expect(withinTolerance(figure('1.7', '×3'), 5.1)).toBe(true);
    expect(withinTolerance(figure('1.7', '×3'), 0.5)).toBe(false);
    expect(withinTolerance(figure('0', '×3'), 0.04)).toBe(true);
    expect(withinTolerance(figure('0', '×3'), 1)).toBe(false);
  });

  it('writes a measured value the way the README wrote the old one', () => {
    expect(formatLike(17_798_727.2, '17,798,655')).toBe('17,798,727');
    expect(formatLike(1234.56, '1456')).toBe('1235');
    expect(formatLike(0.5, '0.40')).toBe('0.50');
    expect(parseTolerance('×1')).toBeUndefined();
  });

  it('--write replaces each number in place, keeping padded columns aligned', () => {
    const { figures } = parseFigures('lessons/99-x/README.md', README);
    const out = rewrite(README, [
      { figure: figures[0] as never, value: 600 },
      { figure: figures[2] as never, value: 1003.61 },
      { figure: figures[3] as never, value: 600 },
    ]);
    expect(out).toContain('Redis healthy   p50    1.7 ms   Redis commands  600   MISS 200\n');
    expect(out).toContain('Redis slow      p50 1003.6 ms   Redis commands   12   BYPASS 200\n');
    expect(out).toContain('So a miss costs 600 commands');
  });
});

describe('npm run figures: commands and declarations', () => {
  it('runs `npx tsx` and `node … --import tsx` commands with their arguments', () => {
    expect(parseCommand('npx tsx lessons/08-x/src/measure-stampede.ts --route /employees/42')).toEqual({
      nodeArgs: ['--import', 'tsx'],
      script: 'lessons/08-x/src/measure-stampede.ts',
      args: ['--route', '/employees/42'],
    });
    expect(parseCommand('node --expose-gc --import tsx lessons/02-x/src/measure-memory.ts')).toEqual({
      nodeArgs: ['--expose-gc', '--import', 'tsx'],
      script: 'lessons/02-x/src/measure-memory.ts',
      args: [],
    });
    expect(parseCommand('curl http://127.0.0.1/')).toBeUndefined();
  });

  it('reads a script’s FIGURES without running it, brace patterns expanded', () => {
    expect(expandBraces('{a,b}.{x,y}')).toEqual(['a.x', 'a.y', 'b.x', 'b.y']);
    expect(declaredFigures("import x from 'y';\nexport const FIGURES = [\n  'rows',\n  '{a,b}.ms',\n];\n")).toEqual([
      'rows',
      'a.ms',
      'b.ms',
    ]);
    expect(declaredFigures('const figures = {};')).toBeUndefined();
  });
});

describe('npm run figures: a lesson in steps', () => {
  const tree = fixtureTree('figures-steps');
  afterAll(() => tree.dispose());
  const marker = (figure: string) => `<!-- figures: npx tsx lessons/05-fixture/src/measure-x.ts\n${figure}\n-->`;
  writeGoodLesson(tree);
  tree.write(
    'lessons/05-fixture/steps/2-delete-on-write.md',
    stepText({
      lesson: '05',
      step: 2,
      title: 'Delete on write',
      extra: `${marker('miss.ms  ×3  a miss took {} ms')}\nHere a miss took 12.5 ms.`,
    }),
  );
  tree.write(
    'lessons/05-fixture/appendix.md',
    `# Lesson 05 — appendix\n\n## Method\n\n${marker('runs  exact  over {} runs')}\nMeasured over 20 runs.\n`,
  );

  it('finds the markers of every step and of the appendix, in reading order', () => {
    const found = lessonFigures([], tree.root);
    expect(found.map((r) => r.file)).toEqual([
      'lessons/05-fixture/README.md',
      'lessons/05-fixture/steps/2-delete-on-write.md',
      'lessons/05-fixture/steps/3-tags.md',
      'lessons/05-fixture/appendix.md',
    ]);
    expect(found.flatMap((r) => r.problems)).toEqual([]);
    expect(found.flatMap((r) => r.figures.map((f) => [shortTextName(f.file), f.name, f.writtenText]))).toEqual([
      ['05.2', 'miss.ms', '12.5'],
      ['05 appendix', 'runs', '20'],
    ]);
    expect(shortTextName('lessons/05-fixture/README.md')).toBe('05');
  });
});

describe('the lessons’ texts: every marked figure can be checked', () => {
  const readmes = lessonFigures();
  const scripts = readdirSync(join(REPO_ROOT, 'lessons')).flatMap((lesson) => {
    const dir = join(REPO_ROOT, 'lessons', lesson, 'src');
    try {
      return readdirSync(dir)
        .filter((f) => /^measure-.*\.ts$/.test(f))
        .map((f) => `lessons/${lesson}/src/${f}`);
    } catch {
      return [];
    }
  });

  it('every marker can be read and its text is found in its block', () => {
    expect(readmes.flatMap((r) => r.problems)).toEqual([]);
  });

  it('every marker names a command that runs a script, and a figure that script declares', () => {
    const wrong: string[] = [];
    for (const f of readmes.flatMap((r) => r.figures)) {
      const command = parseCommand(f.command);
      const where = `${f.file}:${f.line} ${f.name}`;
      if (!command) {
        wrong.push(`${where}: "${f.command}" is not a command the check can run`);
        continue;
      }
      if (!scripts.includes(command.script)) {
        wrong.push(`${where}: ${command.script} is not a lesson's measure-*.ts`);
        continue;
      }
      const declared = declaredFigures(readFileSync(join(REPO_ROOT, command.script), 'utf8')) ?? [];
      if (!declared.includes(f.name)) wrong.push(`${where}: ${command.script} declares no figure ${f.name}`);
      if (Number.isNaN(f.written)) wrong.push(`${where}: "${f.writtenText}" is not a number`);
    }
    expect(wrong).toEqual([]);
  });

  it('every measure script declares its figures, takes --json, and has a figure in a README', () => {
    const named = new Set(readmes.flatMap((r) => r.figures.map((f) => parseCommand(f.command)?.script)));
    const wrong = scripts.flatMap((script) => {
      const source = readFileSync(join(REPO_ROOT, script), 'utf8');
      return [
        ...(declaredFigures(source) ? [] : [`${script} declares no FIGURES`]),
        ...(source.includes('--json') ? [] : [`${script} says nothing of --json`]),
        ...(named.has(script) ? [] : [`${script}: no README marks a figure of it`]),
      ];
    });
    expect(scripts.length).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
  });

  it('the markers are invisible in `cachelab read`', () => {
    for (const r of readmes.filter((x) => x.figures.length > 0)) {
      const shown = renderMarkdown(readFileSync(join(REPO_ROOT, r.file), 'utf8'), { colour: false });
      expect(shown, r.file).not.toMatch(/<!--|-->|figures: (npx|node) /);
    }
  });
});
