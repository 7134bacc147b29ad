import { afterEach, beforeEach, chai, expect } from 'vitest';

/**
 * Loaded by the grading config before every test file, so before any of the learner's code:
 * the checks that keep a src/ from changing what the tests conclude. The learner's code runs
 * in this same process, so these are defences in depth (the sandbox and the report channel
 * are the walls; the grader's manifest and tripwires check the rest), aimed at the ways a
 * test framework can be bent from inside:
 *
 *  1. the assertion machinery is frozen: chai's Assertion prototype (so `assert` cannot be
 *     replaced and `expect.extend` cannot redefine `toBe`), chai's utilities and `expect`;
 *  2. a test's verdict cannot be reversed: once a test failed, its state stays "fail"
 *     whatever a hook writes (`ctx.task.result.state = 'pass'`), and `fails`, `retry` and
 *     `repeats` are fixed before the test runs;
 *  3. built-ins that matchers rely on (Object.is, JSON.stringify, Array.prototype…) are
 *     captured now and compared after every test: a replaced one fails the test.
 * Each finding is written into the test's meta (`cachelabIntegrity`), which the grader
 * reads through its report channel and turns into a flag and a 0 for the exercise.
 */

type Task = {
  name: string;
  fails?: boolean;
  retry?: unknown;
  repeats?: number;
  meta: Record<string, unknown>;
  result?: { state?: string; errors?: unknown[] };
};

/** Attempts to change the machinery, seen by the guards below; noted on every test after. */
const attempts: string[] = [];
function attempted(what: string): never {
  if (!attempts.includes(what)) attempts.push(what);
  throw new TypeError(`Grading: ${what} is not allowed (the assertion machinery is frozen while tests are graded).`);
}

/**
 * Freeze an object, turning each data property into a getter of the original and a setter
 * that records the attempt and throws (a student's try/catch cannot make it silent).
 */
function guard(target: object, label: string): void {
  for (const key of Reflect.ownKeys(target)) {
    const descriptor = Object.getOwnPropertyDescriptor(target, key);
    if (!descriptor?.configurable || !('value' in descriptor)) continue;
    const value: unknown = descriptor.value;
    Object.defineProperty(target, key, {
      configurable: false,
      enumerable: descriptor.enumerable ?? false,
      get: () => value,
      set: () => attempted(`replacing ${label}.${String(key)}`),
    });
  }
  Object.freeze(target);
}

const chaiApi = chai as unknown as {
  Assertion: { prototype: object };
  util: Record<string, unknown>;
  config: object;
};
guard(chaiApi.Assertion.prototype, 'chai.Assertion.prototype');
Object.freeze(chaiApi.Assertion);
guard(chaiApi.util, 'chai.util');
Object.freeze(chaiApi.config);
// (`chai` itself is a module namespace: its bindings are read-only already.)
// `expect.extend({ toBe })` replaces a matcher; `expect.addEqualityTesters([() => true])`
// would make toEqual pass anything. (chai.use with a plugin meets the frozen prototype.)
const expectApi = expect as unknown as Record<string, unknown>;
expectApi.extend = (matchers: object) =>
  attempted(`adding or replacing matchers with expect.extend (${Object.keys(matchers ?? {}).join(', ')})`);
expectApi.addEqualityTesters = () => attempted('adding equality testers (expect.addEqualityTesters)');
guard(expect, 'expect');
const jestMatchers = (globalThis as Record<symbol, Record<string, unknown> | undefined>)[
  Symbol.for('$$jest-matchers-object')
];
if (jestMatchers) {
  for (const key of ['matchers', 'customEqualityTesters']) {
    Object.freeze(jestMatchers[key]);
    Object.defineProperty(jestMatchers, key, { writable: false, configurable: false });
  }
}

const builtins: [string, () => unknown, unknown][] = [];
function capture(name: string, read: () => unknown): void {
  builtins.push([name, read, read()]);
}
capture('Object.is', () => Object.is);
capture('Object.keys', () => Object.keys);
capture('Object.entries', () => Object.entries);
capture('Object.getOwnPropertyNames', () => Object.getOwnPropertyNames);
capture('Object.getPrototypeOf', () => Object.getPrototypeOf);
capture('Object.prototype.hasOwnProperty', () => Object.prototype.hasOwnProperty);
capture('Object.prototype.toString', () => Object.prototype.toString);
capture('Array.isArray', () => Array.isArray);
for (const method of ['every', 'some', 'includes', 'indexOf', 'map', 'filter', 'forEach', 'join'] as const)
  capture(`Array.prototype.${method}`, () => Array.prototype[method]);
capture('JSON.stringify', () => JSON.stringify);
capture('JSON.parse', () => JSON.parse);
capture('Number.isNaN', () => Number.isNaN);
capture('String.prototype.includes', () => String.prototype.includes);
capture('RegExp.prototype.test', () => RegExp.prototype.test);
capture('RegExp.prototype.exec', () => RegExp.prototype.exec);
capture('Function.prototype.call', () => Function.prototype.call);
capture('Function.prototype.apply', () => Function.prototype.apply);
capture('Reflect.ownKeys', () => Reflect.ownKeys);
capture('Map.prototype.get', () => Map.prototype.get);
capture('Set.prototype.has', () => Set.prototype.has);
capture('Promise.prototype.then', () => Promise.prototype.then);
capture('Error.captureStackTrace', () => Error.captureStackTrace);

function changedBuiltins(): string[] {
  return builtins.filter(([, read, original]) => read() !== original).map(([name]) => name);
}

function note(task: Task, finding: string): void {
  const list = Array.isArray(task.meta.cachelabIntegrity) ? (task.meta.cachelabIntegrity as string[]) : [];
  if (!list.includes(finding)) list.push(finding);
  task.meta.cachelabIntegrity = list;
}

// Registered before the test file's own hooks: beforeEach runs first, afterEach (vitest
// runs after-hooks in reverse order) runs last.
beforeEach((ctx) => {
  const task = ctx.task as unknown as Task;
  for (const key of ['fails', 'retry', 'repeats'] as const) {
    const value = task[key];
    Object.defineProperty(task, key, {
      configurable: false,
      get: () => value,
      set: () => attempted(`changing the test's "${key}" option`),
    });
  }
  for (const what of attempts) note(task, `${what} was attempted`);
  let result = task.result;
  if (!result) return;
  Object.defineProperty(task, 'result', {
    configurable: false,
    enumerable: true,
    get: () => result,
    set(next: Task['result']) {
      if (result?.state === 'fail' && next?.state !== 'fail') {
        note(task, `the test's failed result was replaced by one that says "${next?.state}"`);
        return;
      }
      result = next;
    },
  });
  let errors = result.errors;
  Object.defineProperty(result, 'errors', {
    configurable: false,
    enumerable: true,
    get: () => errors,
    set(next: unknown[] | undefined) {
      // The runner only ever adds errors (`errors ??= []; errors.push(…)`).
      if (errors && errors.length > 0 && (next?.length ?? 0) < errors.length) {
        note(task, "the test's errors were erased");
        return;
      }
      errors = next;
    },
  });
  let state = result.state;
  Object.defineProperty(result, 'state', {
    configurable: false,
    enumerable: true,
    get: () => state,
    set(next: string) {
      // The runner never turns a failed attempt into a pass (retries are fixed at 0 above).
      if (state === 'fail' && next !== 'fail') {
        note(task, `the test's failed result was rewritten to "${next}"`);
        return;
      }
      state = next;
    },
  });
  const changed = changedBuiltins();
  if (changed.length > 0) note(task, `built-ins replaced before the test: ${changed.join(', ')}`);
});

afterEach((ctx) => {
  const task = ctx.task as unknown as Task;
  for (const what of attempts) note(task, `${what} was attempted`);
  const changed = changedBuiltins();
  if (changed.length > 0) {
    note(task, `built-ins replaced during the test: ${changed.join(', ')}`);
    throw new Error(`The code under test replaced built-ins the assertions rely on: ${changed.join(', ')}.`);
  }
});
