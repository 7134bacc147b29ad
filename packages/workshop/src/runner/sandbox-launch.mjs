// The first process of a sandboxed run (plain JavaScript: it runs before anything is
// transformed). It starts the services' forwarder (grade/sandbox/forward.mjs) with the pairs
// in CACHELAB_FORWARD, waits until it listens, then runs the command after `--` (vitest)
// with the report channel (fd 3) passed on, and exits with that command's status.
//
//   node sandbox-launch.mjs <forward.mjs> -- node vitest.mjs run …
//
// The sandbox's PID namespace ends the forwarder with everything else when this exits.

import { spawn } from 'node:child_process';

const dash = process.argv.indexOf('--');
const forwarder = process.argv[2];
const command = process.argv.slice(dash + 1);
if (dash < 3 || !forwarder || command.length === 0) {
  console.error('usage: node sandbox-launch.mjs <forward.mjs> -- <command…>');
  process.exit(2);
}

function run() {
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 3] });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  child.on('error', (err) => {
    console.error(`cannot start ${command[0]}: ${err.message}`);
    process.exit(1);
  });
}

if (!process.env.CACHELAB_FORWARD) run();
else {
  const forward = spawn(process.execPath, [forwarder], { stdio: ['ignore', 'pipe', 'inherit'] });
  let seen = '';
  const timer = setTimeout(() => {
    console.error('the services forwarder did not start within 10 s');
    process.exit(1);
  }, 10_000);
  forward.stdout.on('data', (chunk) => {
    seen += chunk;
    if (seen.includes('ready')) {
      clearTimeout(timer);
      forward.stdout.removeAllListeners('data');
      forward.stdout.resume();
      run();
    }
  });
  forward.on('exit', (code) => {
    if (!seen.includes('ready')) {
      console.error(`the services forwarder stopped (exit ${code}) before it listened`);
      process.exit(1);
    }
  });
}
