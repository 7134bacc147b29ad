import { afterEach, beforeAll, beforeEach, chai, expect } from 'vitest';

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
 *     captured now and compared after every test: a replaced one fails the test;
 *  4. the way results leave this process is guarded: every task update sent to vitest's
 *     main process goes through a wrapper that puts back the verdict and the findings this
 *     file recorded (a forged "pass" for a failed, skipped or never-run test is undone),
 *     the worker state and its RPC cannot be replaced, and `process.send`,
 *     `process.binding` and the IPC handle are out of the learner's reach.
 * Each finding is written into the test's meta (`cachelabIntegrity`), which the grader
 * reads through its report channel and turns into a flag and a 0 for the exercise.
 */

type Task = {
  id: string;
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
  throw new TypeError(`Grading: ${what} is not allowed (the test machinery is locked while tests are graded).`);
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
// The asymmetric matchers (expect.any, objectContaining, arrayContaining, …) are chai methods
// on \`expect\` itself, and chai's method wrapper records a flag on its receiver: it creates
// \`expect.__flags\` on first use, which a frozen \`expect\` refuses. Give it the object first.
// (Only calls on \`expect\` itself write there; every assertion has flags of its own.)
if (!Object.hasOwn(expect, '__flags'))
  Object.defineProperty(expect, '__flags', { value: Object.create(null), writable: true, configurable: true });
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

/** What this file knows of each test that ran through its hooks: the guarded verdict, the findings. */
interface Truth {
  state(): string | undefined;
  errors(): unknown[] | undefined;
  findings: string[];
}
const truths = new Map<string, Truth>();
/** Ids of the tests of the file, from its task tree (beforeAll): a pass for one that never ran is forged. */
const testIds = new Set<string>();

function note(task: Task, finding: string): void {
  const list = Array.isArray(task.meta.cachelabIntegrity) ? (task.meta.cachelabIntegrity as string[]) : [];
  if (!list.includes(finding)) list.push(finding);
  task.meta.cachelabIntegrity = list;
  const truth = truths.get(task.id);
  if (truth && !truth.findings.includes(finding)) truth.findings.push(finding);
}

type Pack = [id: string, result: { state?: string; errors?: unknown[] } | undefined, meta: Record<string, unknown>];

/** A task update as it leaves for the reporter: the verdict and findings this file saw win. */
function checkedPack([id, result, meta]: Pack): Pack {
  const truth = truths.get(id);
  if (!truth) {
    // A pass for a test that never went through the hooks above, or any pass while no test
    // of the file did (the file's tree was never seen), was not earned here.
    const unseen = testIds.has(id) || (testIds.size === 0 && truths.size === 0);
    if (unseen && result?.state === 'pass')
      return [
        id,
        { ...result, state: 'fail', errors: [{ message: 'A test that never ran reported a pass.' }] },
        { ...meta, cachelabIntegrity: ['a test that never ran reported a pass (its result was forged)'] },
      ];
    return [id, result, meta];
  }
  const findings = [...truth.findings];
  let checked = result;
  if (result && truth.state() === 'fail' && result.state !== 'fail') {
    findings.push(`a failed result was sent to the reporter as "${result.state}"`);
    checked = { ...result, state: 'fail', errors: truth.errors() ?? [{ message: 'The test failed.' }] };
  }
  return [id, checked, findings.length > 0 ? { ...meta, cachelabIntegrity: findings } : meta];
}

const workerState = (globalThis as Record<string, unknown>).__vitest_worker__ as
  | { rpc: Record<string | symbol, unknown> }
  | undefined;
if (workerState) {
  const rpc = workerState.rpc;
  const guardedRpc = new Proxy(rpc, {
    get(target, property) {
      const value = target[property];
      if (property !== 'onTaskUpdate' || typeof value !== 'function') return value;
      return (packs: Pack[], ...rest: unknown[]) =>
        (value as (...args: unknown[]) => unknown)(Array.isArray(packs) ? packs.map(checkedPack) : packs, ...rest);
    },
    set: (_target, property) => attempted(`replacing the worker's RPC method ${String(property)}`),
    defineProperty: (_target, property) => attempted(`replacing the worker's RPC method ${String(property)}`),
  });
  Object.defineProperty(workerState, 'rpc', {
    configurable: false,
    enumerable: true,
    get: () => guardedRpc,
    set: () => attempted("replacing vitest's worker RPC"),
  });
  const state = workerState;
  Object.defineProperty(globalThis, '__vitest_worker__', {
    configurable: false,
    enumerable: false,
    get: () => state,
    set: () => attempted("replacing vitest's worker state"),
  });
}
// vitest keeps its own bound copy of process.send; nobody else in a test may talk to the
// main process behind its back, nor reach Node's internal bindings. (process.channel stays:
// Node's IPC needs it, and without a WriteWrap from the bindings it cannot send.)
const processApi = process as unknown as Record<string, unknown>;
for (const name of ['send', 'binding', '_linkedBinding']) {
  if (typeof processApi[name] !== 'function') continue;
  Object.defineProperty(process, name, {
    configurable: false,
    enumerable: false,
    value: () => attempted(`process.${name}()`),
    writable: false,
  });
}

// Registered before the test file's own hooks: beforeEach runs first, afterEach (vitest
// runs after-hooks in reverse order) runs last.
// biome-ignore lint/correctness/noEmptyPattern: vitest 4 passes the suite second, after a fixtures object it parses.
beforeAll(({}, suite) => {
  const walk = (task: { id: string; type?: string; tasks?: unknown[] }) => {
    if (task.type === 'test') testIds.add(task.id);
    for (const child of task.tasks ?? []) walk(child as typeof task);
  };
  walk(suite as unknown as { id: string; tasks?: unknown[] });
});

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
  let result = task.result;
  if (!result) return;
  Object.defineProperty(task, 'result', {
    configurable: false,
    enumerable: true,
    get: () => result,
    set(next: Task['result']) {
      // The runner replaces a result only to mark the test skipped; nothing else may.
      if (next?.state === 'skip' && result?.state !== 'fail') {
        result = next;
        return;
      }
      note(task, `the test's result was replaced by one that says "${next?.state}"`);
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
  truths.set(task.id, { state: () => state, errors: () => errors, findings: [] });
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
  for (const what of attempts) note(task, `${what} was attempted`);
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
