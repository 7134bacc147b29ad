#!/usr/bin/env node
// The cachelab CLI is TypeScript; tsx compiles it on the fly so that learners never run a
// build step. Node ≥ 20.6 is needed for module.register, which tsx uses.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 6)) {
  console.error(
    `✗ cachelab needs Node.js 20.6 or newer; this is ${process.version}. Install a current LTS from https://nodejs.org.`,
  );
  process.exit(1);
}
const { register } = await import('tsx/esm/api');
register();
await import('../src/cli.ts');
