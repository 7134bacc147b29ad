import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from './repo.ts';

/** The hints of an exercise: `hints.md`, one `## Hint N` section each, gentlest first. */
export function readHints(exercise: Exercise): string[] {
  const file = join(exercise.dir, 'hints.md');
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  return text
    .split(/^##\s+Hint\b.*$/im)
    .slice(1)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
