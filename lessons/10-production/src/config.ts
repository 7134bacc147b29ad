/**
 * Configuration read from the environment, in one place.
 *
 * `CACHELAB_AUTH_SECRET` signs the bearer tokens (auth.ts). Every instance of the app must
 * share it; the default is for this workshop only, and main.ts says so on start-up.
 */
export const DEV_AUTH_SECRET = 'cachelab-workshop-only-not-a-secret';

export function authSecretFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.CACHELAB_AUTH_SECRET?.trim() || DEV_AUTH_SECRET;
}
