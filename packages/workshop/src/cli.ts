import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { progressCommand, renderHome } from './commands/home.ts';
import { isInteractive } from './learner.ts';
import { fail, ok, UserError, warn } from './output.ts';
import { workshopVersion } from './repo.ts';

// Each command's module is imported when the command runs, not before: the home screen and
// `--version` then start without loading the test runner, the services' clients, the
// markdown renderer or the prompts (a learner waits for `npx cachelab` many times a day).

// commander: the most used argument parser for Node CLIs — subcommands, help and errors
// for free, no dependencies of its own. The program itself has no action (`cachelab` alone
// is handled in main()): with one, commander hands it whatever is not a command, so `help`
// or a typo would be "too many arguments" instead of help or "Did you mean verify?".
const program = new Command('cachelab')
  .description('An interactive workshop that teaches caching for web APIs.')
  .version(workshopVersion(), '-V, --version', 'the commit of this clone and the Node.js version')
  .helpCommand('help [command]', 'help for a command')
  .showSuggestionAfterError()
  .exitOverride();

let exitCode = 0;
const set = (code: number) => {
  exitCode = code;
};

program
  .command('lessons')
  .description('list the lessons and exercises, with your progress')
  .action(() => console.log(renderHome()));

program
  .command('read')
  .description("read a lesson, one step at a time (or, with --exercise, an exercise's task) in the terminal")
  .argument('<lesson>', 'lesson number, e.g. 02; a step of it, e.g. 05.2')
  .option('-s, --step <n>', 'show step n of the lesson (the same as NN.n)')
  .option('-a, --all', 'show the whole lesson, every step in order')
  .option('-e, --exercise', "read exercise NN's task instead")
  .action(async (lesson: string, options: { exercise?: boolean; step?: string; all?: boolean }) =>
    set(await (await import('./commands/read.ts')).read(lesson, options)),
  );

program
  .command('demo')
  .description('try a lesson: start its server, send requests, show MISS and HIT timings measured here')
  .argument('<lesson>', 'lesson number, e.g. 02')
  .option('--hits <n>', 'repeated requests after the first (default 5)', (v) => Number(v))
  .option('--json', 'the measurements, machine-readable')
  .action(async (lesson: string, options: { hits?: number; json?: boolean }) =>
    set(await (await import('./commands/demo.ts')).demo(lesson, options)),
  );

program
  .command('run')
  .description("start a lesson's server with a live request log")
  .argument('<lesson>', 'lesson number, e.g. 01')
  .option('-p, --port <port>', 'port to listen on (default: PORT, else 3000, else a free one)')
  .action(async (lesson: string, options: { port?: string }) =>
    set(await (await import('./commands/run.ts')).runLesson(lesson, options)),
  );

program
  .command('verify')
  .description('test your solution of an exercise (default: the first one not solved yet)')
  .argument('[exercise]', 'exercise number, e.g. 02')
  .option('-v, --verbose', 'show the test runner output when the tests cannot run')
  .option('-a, --all', 'every failing check with its message, and every passing one')
  .option(
    '-s, --stretch',
    "also check the exercise's stretch goal (its stretch/ tests), reported apart: solving it still needs only the main checks",
  )
  .action(async (exercise: string | undefined, options: { verbose?: boolean; all?: boolean; stretch?: boolean }) =>
    set(await (await import('./commands/verify.ts')).verify(exercise, options)),
  );

program
  .command('watch')
  .description('solve exercises: re-run the tests on every save, move on when they pass (keys: h l c r q)')
  .argument('[exercise]', 'start with this exercise (default: the first one not solved yet)')
  .option('--poll', 'look for saves every 500 ms instead of waiting for file events (network drives, some VMs)')
  .action(async (exercise: string | undefined, options: { poll?: boolean }) =>
    set(await (await import('./commands/watch.ts')).watch(exercise, options)),
  );

program
  .command('diff')
  .description("compare your src/ with the reference solution's (after you pass, or with --yes)")
  .argument('<exercise>', 'exercise number, e.g. 01')
  .option('-y, --yes', 'show it even though you have not passed yet')
  .action(async (exercise: string, options: { yes?: boolean }) =>
    set(await (await import('./commands/diff.ts')).diff(exercise, options)),
  );

program
  .command('reset')
  .description("put an exercise's starter code back (your version is kept in .cachelab/backups/)")
  .argument('<exercise>', 'exercise number, e.g. 01')
  .option('-y, --yes', 'do not ask for confirmation')
  .action(async (exercise: string, options: { yes?: boolean }) =>
    set(await (await import('./commands/reset.ts')).reset(exercise, options)),
  );

program
  .command('hint')
  .description('show the next hint of an exercise')
  .argument('[exercise]', 'exercise number (default: the first one not solved yet)')
  .option('--reset', 'start again from the first hint')
  .action(async (exercise: string | undefined, options: { reset?: boolean }) =>
    set((await import('./commands/hint.ts')).hint(exercise, options)),
  );

program
  .command('quiz')
  .description(
    'answer a lesson\'s "Check yourself" questions: one at a time on a terminal, or all at once with --answers',
  )
  .argument('<lesson>', 'lesson number, e.g. 05')
  .option('-a, --answers <answers>', 'answer without a terminal: 1=b,2=42,3=24h, or JSON; "-" reads them from stdin')
  .option('--json', 'machine-readable: the results, or (without --answers) the questions')
  .addHelpText(
    'after',
    '\nExit code: 0 when every answer is right, 1 otherwise, 2 when the lesson or the answers cannot be read.\nYour best score is kept in progress (npx cachelab progress).',
  )
  .action(async (lesson: string, options: { answers?: string; json?: boolean }) =>
    set(await (await import('./commands/quiz.ts')).quiz(lesson, options)),
  );

program
  .command('progress')
  .description('what you have solved (a plain file in .cachelab/, no account)')
  .option('--json', 'machine-readable')
  .action((options: { json?: boolean }) => set(progressCommand(options)));

program
  .command('check')
  .description('maintainers: every starter fails its tests and every solution passes them')
  .argument('[exercises...]', 'only these exercise numbers')
  .option('-c, --concurrency <n>', 'runs at once (default: cores, at most 4)', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
    return n;
  })
  .action(async (only: string[], options: { concurrency?: number }) =>
    set(
      await (await import('./commands/check.ts')).check({
        only,
        ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      }),
    ),
  );

program
  .command('bench')
  .description(
    'the benchmark suite (packages/bench): every strategy under load, as ratios to bare Express; never part of npm test',
  )
  .allowUnknownOption()
  .allowExcessArguments()
  .helpOption(false)
  .argument('[args...]', 'passed to the suite: --rounds N, --requests N, --connections N, --only NAME, --profile NAME')
  .action(async (args: string[]) => {
    await (await import('./commands/doctor.ts')).requireServices();
    const { spawnSync } = await import('node:child_process');
    const { join } = await import('node:path');
    const { REPO_ROOT } = await import('./repo.ts');
    // The suite is its own package: run it there, with the terminal, so its progress shows.
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'packages/bench/src/suite.ts'), ...args],
      {
        cwd: join(REPO_ROOT, 'packages/bench'),
        stdio: 'inherit',
      },
    );
    set(r.status ?? 1);
  });

program
  .command('doctor')
  .description('check Node, PostgreSQL, Redis and the data, with the fix for each problem')
  .action(async () => set(await (await import('./commands/doctor.ts')).doctor()));

// Instructors: grade students' submissions (src/grade/). Loaded on demand: learners never need it.
const grade = program
  .command('grade')
  .description("instructors: grade students' submissions against the pristine tests, with reports")
  .argument('[submissions...]', 'folders, .zip files or git URLs (only exercises/*/src/ is taken from each)')
  .option('--exercises <ids>', 'only these exercises, comma-separated, e.g. 03,05 (default: all)')
  .option('--out <dir>', 'where results and reports go (default: grades/)')
  .option('-c, --concurrency <n>', 'runs at once (default: cores, at most 4)')
  .option('--timeout <seconds>', "per run, instead of each exercise's own timeoutSeconds")
  .option('--all-or-nothing', "an exercise's points only when all its tests pass (default: partial credit)")
  .option(
    '--resume',
    'keep results already in --out for code and tests that have not changed; timeouts and errors are graded again',
  )
  .option('--shard <i/n>', 'grade only the i-th of n slices of the submissions (by sorted id)')
  .option('--root <dir>', 'the pristine workshop whose tests are used (default: this one)')
  .option('--require-sandbox', 'refuse to grade when no sandbox can be had (bubblewrap on Linux)')
  .action(async (submissions: string[], options: import('./grade/command.ts').GradeCliOptions) => {
    const { gradeCommand } = await import('./grade/command.ts');
    set(await gradeCommand(submissions, options));
  });
grade
  .command('merge')
  .description('combine the --out folders of several shards into one gradebook and report')
  .argument('<dirs...>', 'the output folders of the shards')
  .option('--out <dir>', 'where the merged results and reports go (default: grades/)')
  .action(async (dirs: string[], options: { out?: string }) => {
    const { mergeCommand } = await import('./grade/command.ts');
    // `grade merge a b --out x`: commander hands --out to `grade`, so look there too.
    set(await mergeCommand(dirs, { out: options.out ?? (grade.opts().out as string | undefined) }));
  });

const services = program.command('services').description('PostgreSQL and Redis: status, up, down');
// No default subcommand: commander would hand it a typo (`services stauts`) as an argument.
services
  .command('status')
  .description('does each service answer, and who started it')
  .action(async () => {
    const states = await (await import('./services.ts')).serviceStates();
    for (const s of states) {
      if (s.error) fail(`${s.name} at ${s.where}: ${s.error}. ${s.fix}`);
      else ok(`${s.name} at ${s.where}${s.origin === 'embedded' ? ' (embedded, started by cachelab)' : ''}`);
    }
    set(states.some((s) => s.error) ? 1 : 0);
  });
services
  .command('up')
  .description('start what is missing: docker compose, else embedded PostgreSQL and redis-server')
  .action(async () => {
    const report = await (await import('./services.ts')).servicesUp();
    for (const line of report.lines) ({ ok, fail, warn })[line.outcome](line.text);
    set(report.ok ? 0 : 1);
  });
services
  .command('down')
  .description('stop what `services up` started (never servers started elsewhere)')
  .action(async () => {
    for (const line of await (await import('./services.ts')).servicesDown()) ok(line);
  });

const db = program.command('db').description('the workshop database');
db.command('seed')
  .description('create, migrate and fill the database (idempotent)')
  .option('--rows <n>', 'rows of borrower_payments (default 1,000,000)')
  .option('--force', 're-create the data even if it is already there')
  .action(async (options: { rows?: string; force?: boolean }) =>
    set(await (await import('./commands/seed.ts')).seedCommand(options)),
  );

/**
 * `cachelab hint 01 | head -3`: once the reader has gone, every write fails with EPIPE, which
 * node emits as an 'error' event on stdout that nothing listens to: a stack trace after the
 * lines the learner asked for. Exit quietly instead, as `cat` or `git log` do: the rest of
 * the output has nowhere to go. Registered once, here, so that every command gets it.
 */
function exitQuietlyWhenOutputCloses(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      process.exit(0);
    });
  }
}

async function main(): Promise<void> {
  exitQuietlyWhenOutputCloses();
  try {
    if (process.argv.length <= 2) {
      // `cachelab` alone: on a terminal, the home screen is a menu; in CI, a pipe or a script,
      // the same list as text.
      if (isInteractive()) set(await (await import('./commands/menu.ts')).menu());
      else console.log(renderHome());
    } else {
      await program.parseAsync(process.argv);
    }
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    if (err instanceof UserError) {
      (err.exitCode === 0 ? ok : fail)(err.message);
      process.exitCode = err.exitCode;
      return;
    }
    fail(`Unexpected error: ${err instanceof Error ? err.message : String(err)}`);
    if (process.env.CACHELAB_DEBUG) console.error(err);
    else console.error('  (run again with CACHELAB_DEBUG=1 for the stack trace)');
    process.exitCode = 1;
    return;
  }
  process.exitCode = exitCode;
}

await main();
