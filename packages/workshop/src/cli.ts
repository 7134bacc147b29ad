import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { check } from './commands/check.ts';
import { doctor } from './commands/doctor.ts';
import { hint } from './commands/hint.ts';
import { progressCommand, renderHome } from './commands/home.ts';
import { runLesson } from './commands/run.ts';
import { seedCommand } from './commands/seed.ts';
import { verify } from './commands/verify.ts';
import { fail, ok, UserError } from './output.ts';
import { serviceStates, servicesDown, servicesUp } from './services.ts';

// commander: the most used argument parser for Node CLIs — subcommands, help and errors
// for free, no dependencies of its own.
const program = new Command('cachelab')
  .description('An interactive workshop that teaches caching for web APIs.')
  .showSuggestionAfterError()
  .exitOverride();

let exitCode = 0;
const set = (code: number) => {
  exitCode = code;
};

program.action(() => {
  console.log(renderHome());
});

program
  .command('lessons')
  .description('list the lessons and exercises, with your progress')
  .action(() => console.log(renderHome()));

program
  .command('run')
  .description("start a lesson's server with a live request log")
  .argument('<lesson>', 'lesson number, e.g. 01')
  .option('-p, --port <port>', 'port to listen on (default: PORT, else 3000, else a free one)')
  .action(async (lesson: string, options: { port?: string }) => set(await runLesson(lesson, options)));

program
  .command('verify')
  .description('test your solution of an exercise (default: the first one not solved yet)')
  .argument('[exercise]', 'exercise number, e.g. 02')
  .option('-v, --verbose', 'show the test runner output when the tests cannot run')
  .action(async (exercise: string | undefined, options: { verbose?: boolean }) => set(await verify(exercise, options)));

program
  .command('hint')
  .description('show the next hint of an exercise')
  .argument('[exercise]', 'exercise number (default: the first one not solved yet)')
  .option('--reset', 'start again from the first hint')
  .action((exercise: string | undefined, options: { reset?: boolean }) => set(hint(exercise, options)));

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
    set(await check({ only, ...(options.concurrency ? { concurrency: options.concurrency } : {}) })),
  );

program
  .command('doctor')
  .description('check Node, PostgreSQL, Redis and the data, with the fix for each problem')
  .action(async () => set(await doctor()));

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
  .option('--resume', 'keep results already in --out for code that has not changed')
  .option('--shard <i/n>', 'grade only the i-th of n slices of the submissions (by sorted id)')
  .option('--root <dir>', 'the pristine workshop whose tests are used (default: this one)')
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
services
  .command('status', { isDefault: true })
  .description('does each service answer, and who started it')
  .action(async () => {
    for (const s of await serviceStates()) {
      if (s.error) fail(`${s.name} at ${s.where}: ${s.error}. ${s.fix}`);
      else ok(`${s.name} at ${s.where}${s.origin === 'embedded' ? ' (embedded, started by cachelab)' : ''}`);
    }
  });
services
  .command('up')
  .description('start what is missing: docker compose, else embedded PostgreSQL and redis-server')
  .action(async () => {
    const report = await servicesUp();
    for (const line of report.lines) (report.ok ? ok : fail)(line);
    set(report.ok ? 0 : 1);
  });
services
  .command('down')
  .description('stop what `services up` started (never servers started elsewhere)')
  .action(async () => {
    for (const line of await servicesDown()) ok(line);
  });

const db = program.command('db').description('the workshop database');
db.command('seed')
  .description('create, migrate and fill the database (idempotent)')
  .option('--rows <n>', 'rows of borrower_payments (default 1,000,000)')
  .option('--force', 're-create the data even if it is already there')
  .action(async (options: { rows?: string; force?: boolean }) => set(await seedCommand(options)));

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
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
