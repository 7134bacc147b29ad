import { formatScore } from '../score.ts';
import { describeFindings } from '../tamper.ts';
import { describeIntegrity, type Gradebook } from './model.ts';

/**
 * gradebook.csv: one row per submission, one column per exercise (its score), then total,
 * max, flagged (which files differ from the pristine copies; empty when none) and integrity
 * (the exercises whose run failed an integrity check, with the reasons; each scores 0).
 * RFC 4180 quoting; a cell that a spreadsheet would read as a formula (=, +, -, @) gets a
 * leading apostrophe, since file names come from the students. No timings, no dates: the
 * same grading gives the same file, byte for byte.
 */
export function gradebookCsv(book: Gradebook): string {
  const header = ['submission', 'source', ...book.exercises.map((e) => e.name), 'total', 'max', 'flagged', 'integrity'];
  const rows = book.rows.map((row) => [
    row.id,
    row.source,
    ...row.cells.map((c) => (c.result ? formatScore(c.score) : '')),
    formatScore(row.total),
    formatScore(row.max),
    describeFindings(row.tamper),
    describeIntegrity(row.integrity),
  ]);
  return `${[header, ...rows].map((cells) => cells.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

export function csvCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) && !/^-?\d+(\.\d+)?$/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
