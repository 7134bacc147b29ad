import { createTokens } from './auth.ts';
import { authSecretFromEnv } from './config.ts';

// npx tsx lessons/10-production/src/token.ts 42   → a bearer token for employee 42
const id = Number(process.argv[2]);
if (!Number.isSafeInteger(id) || id < 1) {
  console.error('✗ Say whose token: npx tsx lessons/10-production/src/token.ts <employee id>');
  process.exit(2);
}
console.log(createTokens(authSecretFromEnv()).issue(id));
