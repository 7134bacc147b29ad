import { spawn } from 'node:child_process';
import { confirm } from '@inquirer/prompts';
import { isInteractive } from './learner.ts';
import { UserError } from './output.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b\]8;[^\x07\x1b]*(?:\x07|\x1b\\)/g;

/** Text without colour codes or terminal hyperlinks. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

export { colourWanted } from './output.ts';

/**
 * Show long text the way git does: through `$PAGER` (default `less`, with `LESS=FRX` when
 * LESS is unset: quit when it fits one screen, keep colours, leave the text on screen) on a
 * terminal, straight to stdout everywhere else or when the pager cannot start.
 */
export async function page(text: string): Promise<void> {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  const pager = (process.env.CACHELAB_PAGER ?? process.env.PAGER ?? 'less').trim();
  if (!isInteractive() || pager === '' || pager === 'cat') {
    process.stdout.write(body);
    return;
  }
  // Ctrl-C belongs to the pager while it runs (less uses it to stop a search).
  const ignore = () => {};
  process.on('SIGINT', ignore);
  try {
    const started = await new Promise<boolean>((resolve) => {
      const child = spawn('sh', ['-c', pager], {
        stdio: ['pipe', 'inherit', 'inherit'],
        env: { ...process.env, LESS: process.env.LESS ?? 'FRX', LV: process.env.LV ?? '-c' },
      });
      child.once('error', () => resolve(false));
      child.stdin.on('error', () => {}); // EPIPE when the reader quits before the end
      child.on('close', (code) => resolve(code !== 127)); // 127: the shell did not find it
      child.stdin.end(body);
    });
    if (!started) process.stdout.write(body);
  } finally {
    process.off('SIGINT', ignore);
  }
}

/**
 * Ask before something the learner may regret. `yes` (from --yes) answers for them; without
 * a terminal to ask on, refuse with `refusal`, which names the flag. Ctrl-C answers no.
 */
export async function confirmOrRefuse(question: string, options: { yes?: boolean; refusal: string }): Promise<boolean> {
  if (options.yes) return true;
  if (!isInteractive()) throw new UserError(options.refusal, 1);
  try {
    return await confirm({ message: question, default: false });
  } catch (err) {
    if (err instanceof Error && err.name === 'ExitPromptError') return false;
    throw err;
  }
}
