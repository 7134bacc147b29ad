#!/usr/bin/env node
// The first process inside a graded run's sandbox. The sandbox has its own network
// namespace, with nothing but loopback; the services are reachable only through the
// proxies' Unix sockets, bind-mounted in. This listens on the TCP addresses the run's
// DATABASE_URL and REDIS_URL name and pipes each connection to its socket, so the code
// under test connects as it always does.
//
//   node forward.mjs [--ready-fd=N] 127.0.0.1:5432=/run/cachelab/postgres.sock 127.0.0.1:6379=/run/cachelab/redis.sock
//
// Pairs come from the arguments, or from CACHELAB_FORWARD (the same pairs, separated by
// spaces or commas) when there are none. Once every listener is up it prints "ready" on
// stdout, and writes one byte to fd N if --ready-fd=N is given; then the launcher may start
// vitest. A failure to listen exits 1. A failure of one connection closes that connection
// only. SIGTERM and SIGINT end it (exit 0). Node built-ins only: it runs before anything
// else is trusted, from a read-only tree. The launcher imports `startForwarding` instead.

import { writeSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { pathToFileURL } from 'node:url';

/**
 * Listen on each `host:port=/path/to.sock` pair and pipe its connections to the socket.
 * Resolves once every listener is up; rejects (naming the address) if one cannot listen.
 * The sandbox's launcher (runner/sandbox-launch.mjs) calls it in its own process, so that a
 * run starts one Node process fewer.
 */
export function startForwarding(pairs) {
  if (pairs.length === 0) return Promise.reject(new Error('no host:port=/path/to.sock pairs'));
  let routes;
  try {
    routes = pairs.map(parsePair);
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.all(routes.map(listen));
}

/** The pairs of CACHELAB_FORWARD (separated by spaces or commas). */
export function pairsFromEnv(env = process.env) {
  return (env.CACHELAB_FORWARD ?? '').split(/[\s,]+/).filter(Boolean);
}

// Run as a command (not imported): pairs from the arguments, else from CACHELAB_FORWARD.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const readyFd = args.find((a) => a.startsWith('--ready-fd='))?.slice('--ready-fd='.length);
  let pairs = args.filter((a) => !a.startsWith('--'));
  if (pairs.length === 0) pairs = pairsFromEnv();
  if (pairs.length === 0) fail('no host:port=/path/to.sock pairs in the arguments or CACHELAB_FORWARD');
  startForwarding(pairs).then(
    () => {
      process.stdout.write('ready\n');
      if (readyFd !== undefined) writeSync(Number(readyFd), 'r');
    },
    (err) => fail(err.message),
  );
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}

/** `host:port=/path`, where host may be `[::1]`. */
function parsePair(pair) {
  const at = pair.indexOf('=');
  const address = pair.slice(0, at);
  const socketPath = pair.slice(at + 1);
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (at < 0 || !match || socketPath === '')
    throw new Error(`cannot read ${JSON.stringify(pair)}: expected host:port=/path/to.sock`);
  return { host: match[1].replace(/^\[(.*)\]$/, '$1'), port: Number(match[2]), socketPath };
}

function listen(route) {
  const server = createServer((client) => {
    const upstream = connect(route.socketPath);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    // Before listening, an error is fatal (reject); after, there is none we could act on.
    server.on('error', (err) => reject(new Error(`cannot listen on ${route.host}:${route.port}: ${err.message}`)));
    server.listen(route.port, route.host, resolve);
  });
}

function fail(message) {
  process.stderr.write(`forward.mjs: ${message}\n`);
  process.exit(1);
}
