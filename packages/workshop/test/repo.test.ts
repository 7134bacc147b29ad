import { afterAll, describe, expect, it } from 'vitest';
import { findExercise, findLesson } from '../src/repo.ts';
import { cachelab, createLearner } from './learner-kit.ts';

describe('exercises and lessons by number, as people type them', () => {
  it('finds exercise 05 by 5, 05, 005 and 0005, by its folder name and by its slug', () => {
    for (const query of ['5', '05', '005', '0005', ' 005 ', '05-employee-directory-ttl', 'employee-directory-ttl'])
      expect(findExercise(query)?.id, query).toBe('05');
  });

  it('finds two-digit numbers with leading zeros too (014 is 14), and nothing for numbers that are not there', () => {
    expect(findExercise('014')?.id).toBe('14');
    expect(findExercise('0')).toBeUndefined();
    expect(findExercise('000')).toBeUndefined();
    expect(findExercise('99')).toBeUndefined();
    expect(findExercise('0099')).toBeUndefined();
  });

  it('finds lesson 05 by 5, 05 and 005 (read 005)', () => {
    for (const query of ['5', '05', '005']) expect(findLesson(query)?.id, query).toBe('05');
  });
});

describe('the CLI takes 005 where it takes 5', { timeout: 60_000 }, () => {
  const learner = createLearner('numbers');
  afterAll(() => learner.dispose());

  it('reads lesson 005', async () => {
    const { code, out } = await cachelab(['read', '005'], learner.env);
    expect(code, out).toBe(0);
    expect(out).toContain('# Lesson 05');
  });

  it('verifies exercise 005 (here a learner copy without its src/: the run says so, about exercise 05)', async () => {
    const { code, out } = await cachelab(['verify', '005'], learner.env);
    expect(out).not.toMatch(/There is no exercise/);
    expect(out).toMatch(/05 employee-directory-ttl: There is no code to test/);
    expect(code).toBe(1);
  });
});
