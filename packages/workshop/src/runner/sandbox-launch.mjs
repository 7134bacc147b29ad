// The first process of a sandboxed run (plain JavaScript: it runs before anything is
// transformed). It forwards the services' addresses in CACHELAB_FORWARD to the proxies'
// sockets (grade/sandbox/forward.mjs, in this process), then runs the command after `--`
// (vitest) with the report channel (fd 3) passed on, and exits with that command's status.
//
//   node sandbox-launch.mjs <forward.mjs> -- node vitest.mjs run …
//
// The sandbox's PID namespace ends everything else when this exits.

import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';

const dash = process.argv.indexOf('--');
const forwarder = process.argv[2];
const command = process.argv.slice(dash + 1);
if (dash < 3 || !forwarder || command.length === 0) {
  console.error('usage: node sandbox-launch.mjs <forward.mjs> -- <command…>');
  process.exit(2);
}

if (process.env.CACHELAB_FORWARD) {
  const { startForwarding, pairsFromEnv } = await import(pathToFileURL(forwarder).href);
  try {
    await startForwarding(pairsFromEnv());
  } catch (err) {
    console.error(`the services forwarder could not start: ${err.message}`);
    process.exit(1);
  }
}
const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 3] });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
child.on('error', (err) => {
  console.error(`cannot start ${command[0]}: ${err.message}`);
  process.exit(1);
});
