import { join } from 'node:path';
import { writeFileAtomic, writeJson } from '../store.ts';
import { gradebookCsv } from './csv.ts';
import { indexHtml } from './html.ts';
import { junitXml } from './junit.ts';
import { type Gradebook, loadGradebook } from './model.ts';
import { resultsJson } from './results-json.ts';

export interface ReportFiles {
  gradebook: string;
  junit: string;
  html: string;
  results: string[];
}

/** Write every report of `out` from what is stored there: gradebook.csv, junit.xml, index.html, <id>/results.json. */
export function writeReports(out: string, book: Gradebook = loadGradebook(out)): ReportFiles {
  const results = book.rows.map((row) => {
    const path = join(out, row.id, 'results.json');
    writeJson(path, resultsJson(book, row));
    return path;
  });
  const files = {
    gradebook: join(out, 'gradebook.csv'),
    junit: join(out, 'junit.xml'),
    html: join(out, 'index.html'),
    results,
  };
  writeFileAtomic(files.gradebook, gradebookCsv(book));
  writeFileAtomic(files.junit, junitXml(book));
  writeFileAtomic(files.html, indexHtml(book));
  return files;
}
