import { describe, expect, it } from 'vitest';
import { printable } from '../src/grade/command.ts';

/**
 * Found by review: a submission's code may register tests of its own, and their names reach
 * the instructor's terminal in the integrity line ("1 test ran that the pinned tests do not
 * define: …"). A name with escape sequences moved the cursor up, erased "integrity 0.00" and
 * printed "✓ 15.00/15.00" in its place, set the window title, and a newline printed a line of
 * its own. The console shows them as escapes instead.
 */
describe('text from a submission on the console', () => {
  it('shows control characters as escapes, never sends them', () => {
    const ESC = String.fromCharCode(27);
    const name = `${ESC}]0;title${String.fromCharCode(7)}${ESC}[2A${ESC}[2K\r✓ eve 15.00/15.00\nfake line${String.fromCharCode(0x9b)}2J`;
    const shown = printable(name);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: what must not be there
    expect(shown).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(shown).toBe('\\u001b]0;title\\u0007\\u001b[2A\\u001b[2K\\u000d✓ eve 15.00/15.00\\nfake line\\u009b2J');
    expect(printable('adds 20% VAT › rounds to the cent (l’été)')).toBe('adds 20% VAT › rounds to the cent (l’été)');
  });
});
