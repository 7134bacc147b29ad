import { formatScore, integrityReasons, isCleanPass } from '../score.ts';
import type { StoredResult } from '../types.ts';
import { type Cell, type Gradebook, type Row, statistics } from './model.ts';

/**
 * index.html: one self-contained file (inline CSS, inline SVG, a few lines of inline
 * script; no external asset, so it can be mailed or opened offline):
 *  - the summary: submissions, mean, median, full marks, flagged, errors;
 *  - the class table: a row per submission, a cell per exercise coloured by its share of the
 *    points, total; flagged submissions highlighted with the files that differ;
 *  - a histogram of the scores of each exercise (inline SVG);
 *  - per submission, the details: each exercise's outcome and the failing tests' messages;
 *    a run that failed an integrity check is flagged (⚠ integrity) with its reasons, and the
 *    tests the starter already passes carry a dim "given" tag (they earn no points).
 * Everything that comes from a submission is HTML-escaped.
 */

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const h = escapeHtml;
const pct = (score: number, max: number) => (max > 0 ? Math.round((score / max) * 100) : 0);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

type Tone = 'pass' | 'partial' | 'zero' | 'error' | 'timeout' | 'absent' | 'missing' | 'integrity';

function toneOf(cell: Cell): Tone {
  const r = cell.result;
  if (!r) return 'missing';
  if (integrityReasons(r).length > 0) return 'integrity';
  if (isCleanPass(r)) return 'pass';
  if (r.status === 'timeout') return 'timeout';
  if (r.notSubmitted) return 'absent';
  if (r.status === 'error') return 'error';
  return cell.score > 0 ? 'partial' : 'zero';
}

const STATUS_LABEL: Record<Tone, string> = {
  pass: 'passed',
  partial: 'partial',
  zero: 'failed',
  error: 'error',
  timeout: 'timeout',
  absent: 'not submitted',
  missing: 'not graded',
  integrity: 'integrity',
};

function tableCell(row: Row, cell: Cell): string {
  const tone = toneOf(cell);
  const r = cell.result;
  const title = r
    ? `${cell.exercise.id} ${cell.exercise.slug}: ${r.status}${r.total ? `, ${r.passed}/${r.total} tests` : ''} — ${r.message}`
    : 'not graded';
  const flag =
    ((r?.tamper.length ?? 0) > 0
      ? ' <span class="flag-mark" title="files differ from the pristine copy">⚑</span>'
      : '') +
    (integrityReasons(r).length > 0
      ? ` <span class="flag-mark integrity-mark" title="${h(`failed an integrity check: ${integrityReasons(r).join('; ')}`)}">⚠</span>`
      : '');
  const label = tone === 'pass' || tone === 'partial' || tone === 'zero' ? '' : `<small>${STATUS_LABEL[tone]}</small>`;
  return `<td class="cell t-${tone}" data-sort="${r ? cell.score : -1}" title="${h(title)}">${label}<a href="#s-${h(row.id)}-${h(cell.exercise.id)}">${r ? formatScore(cell.score) : '—'}</a>${flag}</td>`;
}

/** "⚠ integrity (01, 03)": the exercises whose run failed an integrity check, each scored 0. */
function integrityBadge(row: Row): string {
  if (row.integrity.length === 0) return '';
  const title = row.integrity.map((f) => `${f.exercise}: ${f.reasons.join('; ')}`).join('\n');
  const ids = row.integrity.map((f) => f.exercise.slice(0, 2)).join(', ');
  return `<span class="badge b-integrity" title="${h(title)}">⚠ integrity (${h(ids)})</span>`;
}

/** "1 error", "1 timeout", "2 errors · 1 timeout" */
function problemBadges(row: Row): string {
  const count = (status: string) =>
    row.cells.filter((c) => c.result?.status === status && !c.result.notSubmitted).length;
  const [errors, timeouts] = [count('error'), count('timeout')];
  const parts = [
    errors ? `${errors} error${errors === 1 ? '' : 's'}` : '',
    timeouts ? `${timeouts} timeout${timeouts === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  const absent = row.notSubmitted ? ` <span class="badge b-missing">${row.notSubmitted} not submitted</span>` : '';
  return (parts.length ? `<span class="badge b-error">${parts.join(' · ')}</span>` : '') + absent;
}

function classTable(book: Gradebook): string {
  const head = [
    '<th data-type="text">Submission</th>',
    ...book.exercises.map(
      (e) =>
        `<th data-type="num" title="${h(e.title)}">${h(e.id)} ${h(e.slug)}<small>${formatScore(e.points)} pts</small></th>`,
    ),
    `<th data-type="num">Total<small>of ${formatScore(book.max)}</small></th>`,
    '<th data-type="num">%</th>',
    '<th data-type="text">Flags</th>',
  ].join('');
  const rows = book.rows
    .map((row) => {
      const flagged = row.tamper.length > 0 || row.integrity.length > 0;
      const flags = [
        row.tamper.length > 0
          ? `<span class="badge b-flag" title="${h(row.tamper.map((f) => `${f.exercise}/${f.file} (${f.change})`).join('\n'))}">⚑ ${row.tamper.length} file${row.tamper.length === 1 ? '' : 's'} differ</span>`
          : '',
        integrityBadge(row),
        problemBadges(row),
        row.complete ? '' : '<span class="badge b-missing">incomplete</span>',
      ].join(' ');
      return `<tr class="${flagged ? 'flagged' : ''}"><th scope="row" data-sort="${h(row.id)}"><a href="#s-${h(row.id)}">${h(row.id)}</a></th>${row.cells
        .map((c) => tableCell(row, c))
        .join(
          '',
        )}<td class="total" data-sort="${row.total}">${formatScore(row.total)}</td><td class="pct" data-sort="${pct(row.total, row.max)}"><span class="meter"><span style="width:${pct(row.total, row.max)}%"></span></span>${pct(row.total, row.max)}%</td><td class="flags" data-sort="${row.integrity.length * 10000 + row.tamper.length * 100 + row.errors}">${flags}</td></tr>`;
    })
    .join('\n');
  const means = book.exercises.map((_exercise, i) => {
    const scores = book.rows.map((r) => r.cells[i]?.score ?? 0);
    const mean = scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : 0;
    return `<td class="mean">${formatScore(mean)}</td>`;
  });
  const stats = statistics(book);
  return `<table class="class" id="class">
<thead><tr>${head}</tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><th scope="row">mean</th>${means.join('')}<td class="mean">${formatScore(stats.mean)}</td><td class="mean">${pct(stats.mean, book.max)}%</td><td></td></tr></tfoot>
</table>`;
}

const BINS = ['0', '1–24%', '25–49%', '50–74%', '75–99%', '100%'];

function binOf(score: number, max: number): number {
  if (max <= 0 || score <= 0) return 0;
  if (score >= max) return 5;
  return 1 + Math.min(3, Math.floor((score / max) * 4));
}

/** A histogram of `scores` (out of `max`) in six bins, as inline SVG. */
export function histogramSvg(title: string, scores: number[], max: number): string {
  const counts = new Array<number>(BINS.length).fill(0);
  for (const s of scores) counts[binOf(s, max)] = (counts[binOf(s, max)] ?? 0) + 1;
  const top = Math.max(1, ...counts);
  const [w, hgt, left, bottom, topPad] = [300, 150, 8, 34, 18];
  const slot = (w - left * 2) / BINS.length;
  const barW = slot * 0.7;
  const plotH = hgt - bottom - topPad;
  const bars = counts
    .map((n, i) => {
      const bh = Math.round((n / top) * plotH);
      const x = left + i * slot + (slot - barW) / 2;
      const y = topPad + plotH - bh;
      const cls = i === 0 ? 'bar bar-zero' : i === BINS.length - 1 ? 'bar bar-full' : 'bar';
      return (
        `<rect class="${cls}" x="${x.toFixed(1)}" y="${y}" width="${barW.toFixed(1)}" height="${Math.max(bh, n > 0 ? 1 : 0)}" rx="2"><title>${h(BINS[i] as string)}: ${n}</title></rect>` +
        `<text class="count" x="${(x + barW / 2).toFixed(1)}" y="${y - 4}" text-anchor="middle">${n}</text>` +
        `<text class="axis" x="${(x + barW / 2).toFixed(1)}" y="${hgt - bottom + 15}" text-anchor="middle">${h(BINS[i] as string)}</text>`
      );
    })
    .join('');
  const label = `${title}: ${counts.map((n, i) => `${n} at ${BINS[i]}`).join(', ')}`;
  return `<svg class="hist" viewBox="0 0 ${w} ${hgt}" width="${w}" height="${hgt}" role="img" aria-label="${h(label)}"><line class="base" x1="${left}" x2="${w - left}" y1="${topPad + plotH + 0.5}" y2="${topPad + plotH + 0.5}"/>${bars}<text class="axis" x="${w / 2}" y="${hgt - 4}" text-anchor="middle">share of the points</text></svg>`;
}

function histograms(book: Gradebook): string {
  const figures = book.exercises.map((e, i) => {
    const scores = book.rows.map((r) => r.cells[i]?.score ?? 0);
    const mean = scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : 0;
    return `<figure>${histogramSvg(`${e.id} ${e.slug}`, scores, e.points)}<figcaption><b>${h(e.id)} ${h(e.slug)}</b> — mean ${formatScore(mean)} of ${formatScore(e.points)}</figcaption></figure>`;
  });
  const totals = book.rows.map((r) => r.total);
  const stats = statistics(book);
  figures.push(
    `<figure class="overall">${histogramSvg('total', totals, book.max)}<figcaption><b>Total</b> — mean ${formatScore(stats.mean)} of ${formatScore(book.max)}</figcaption></figure>`,
  );
  return `<div class="hists">${figures.join('\n')}</div>`;
}

/** A unified diff with removed and added lines coloured. */
function diffBlock(diff: string): string {
  const lines = diff.split('\n').map((line) => {
    const cls = line.startsWith('@@') ? 'd-hunk' : line.startsWith('+') ? 'd-add' : line.startsWith('-') ? 'd-del' : '';
    return cls ? `<span class="${cls}">${h(line)}</span>` : h(line);
  });
  return `<pre class="diff">${lines.join('\n')}</pre>`;
}

function exerciseDetails(row: Row, cell: Cell): string {
  const { exercise } = cell;
  const r: StoredResult | undefined = cell.result;
  const tone = toneOf(cell);
  const anchor = `s-${h(row.id)}-${h(exercise.id)}`;
  const head = `<h4><span class="chip t-${tone}">${STATUS_LABEL[tone]}</span> ${h(exercise.id)} ${h(exercise.title)} <span class="score">${formatScore(cell.score)} / ${formatScore(exercise.points)}</span></h4>`;
  if (!r)
    return `<div class="ex" id="${anchor}">${head}<p>Not graded (the batch was interrupted, or this is a shard).</p></div>`;
  const meta = `<p class="meta">${r.total > 0 ? `${r.passed} of ${r.total} tests passed · ` : ''}${seconds(r.durationMs)}</p>${
    r.status === 'error' || r.status === 'timeout' ? `<p class="problem">${h(r.message)}</p>` : ''
  }`;
  const reasons = integrityReasons(r);
  const integrity =
    reasons.length > 0
      ? `<div class="integrity"><b>⚠ Failed an integrity check</b> — this exercise scores 0 whatever its tests say:<ul>${reasons
          .map((reason) => `<li>${h(reason)}</li>`)
          .join('')}</ul></div>`
      : '';
  const tamper =
    r.tamper.length > 0
      ? `<div class="tamper"><b>⚑ Differs from the pristine exercise</b> (graded on the pristine copies all the same):<ul>${r.tamper
          .map(
            (f) =>
              `<li><code>${h(f.file)}</code> ${h(f.change)}${f.submittedSha256 ? ` <small>sha256 ${h(f.submittedSha256.slice(0, 12))}… (pristine ${h((f.pristineSha256 ?? 'none').slice(0, 12))})</small>` : ''}${f.diff ? diffBlock(f.diff) : ''}</li>`,
          )
          .join('')}</ul></div>`
      : '';
  // A skipped test is failing: it never counts as passed.
  const failing = r.tests.filter((t) => t.status !== 'pass');
  const given = (t: { given?: boolean }) =>
    t.given
      ? ' <span class="given" title="the starter already passes this test: it carries no points">given</span>'
      : '';
  const passing = r.tests.filter((t) => t.status === 'pass');
  const failures =
    failing.length > 0
      ? `<ul class="tests">${failing
          .map(
            (t) =>
              `<li class="t-fail"><span class="mark">✗</span> ${h(t.name)}${t.status === 'skip' ? ' <small>(skipped: counts as failed)</small>' : ''}${given(t)}${t.message ? `<pre>${h(t.message)}</pre>` : ''}</li>`,
          )
          .join('')}</ul>`
      : '';
  const passes =
    passing.length > 0 && failing.length > 0
      ? `<details class="passing"><summary>${passing.length} passing test${passing.length === 1 ? '' : 's'}</summary><ul class="tests">${passing
          .map((t) => `<li class="t-pass"><span class="mark">✓</span> ${h(t.name)}${given(t)}</li>`)
          .join('')}</ul></details>`
      : '';
  const output =
    (r.status === 'error' || r.status === 'timeout') && r.output.trim()
      ? `<details class="output"><summary>test runner output (last lines)</summary><pre>${h(r.output.trim().split('\n').slice(-40).join('\n'))}</pre></details>`
      : '';
  return `<div class="ex" id="${anchor}">${head}${meta}${integrity}${tamper}${failures}${passes}${output}</div>`;
}

function submissionDetails(row: Row): string {
  const flagged = row.tamper.length > 0 || row.integrity.length > 0;
  const source = row.record?.commit ? `${row.source} @ ${row.record.commit.slice(0, 12)}` : row.source;
  return `<details class="student${flagged ? ' flagged' : ''}" id="s-${h(row.id)}">
<summary><span class="who">${h(row.id)}</span> <span class="score">${formatScore(row.total)} / ${formatScore(row.max)}</span>${row.tamper.length > 0 ? ' <span class="badge b-flag">⚑ flagged</span>' : ''}${row.integrity.length > 0 ? ` ${integrityBadge(row)}` : ''}${row.errors || row.notSubmitted ? ` ${problemBadges(row)}` : ''}</summary>
<p class="meta">Source: <code>${h(source)}</code>${row.record?.error ? ` — <b>${h(row.record.error)}</b>` : ''}</p>
${row.cells.map((c) => exerciseDetails(row, c)).join('\n')}
</details>`;
}

const CSS = `
:root{--bg:#fff;--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--head:#f6f8fa;--pass:#1a7f37;--pass-bg:#dafbe1;--partial:#7d4e00;--partial-bg:#fff1c2;--zero:#a40e26;--zero-bg:#ffe4e6;--error-bg:#ffd7d9;--timeout-bg:#e9d8fd;--timeout:#5a32a3;--flag:#bc4c00;--flag-bg:#fff1e5;--bar:#0969da;--link:#0550ae}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--line:#30363d;--head:#161b22;--pass:#56d364;--pass-bg:#12361f;--partial:#e3b341;--partial-bg:#3b2e0a;--zero:#ff7b72;--zero-bg:#42171b;--error-bg:#5a1e22;--timeout-bg:#2f1f55;--timeout:#d2a8ff;--flag:#ffa657;--flag-bg:#3d2410;--bar:#4493f8;--link:#79c0ff}}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px 48px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}h4{margin:0 0 4px;font-size:14px}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
.meta{color:var(--muted);margin:2px 0 8px}
code,pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;min-width:130px;background:var(--head)}
.card b{display:block;font-size:20px}.card span{color:var(--muted)}
.card.warn{border-color:var(--flag);background:var(--flag-bg)}.card.warn b{color:var(--flag)}
.card.bad{border-color:var(--zero)}.card.bad b{color:var(--zero)}
.scroll{overflow-x:auto}
table.class{border-collapse:collapse;min-width:100%;font-variant-numeric:tabular-nums}
table.class th,table.class td{border:1px solid var(--line);padding:5px 8px;text-align:right;white-space:nowrap}
table.class thead th{background:var(--head);position:sticky;top:0;cursor:pointer;user-select:none;vertical-align:bottom}
table.class thead th small{display:block;font-weight:normal;color:var(--muted)}
table.class th[scope=row]{text-align:left;font-weight:600}
table.class thead th:first-child,table.class thead th:last-child,table.class td.flags{text-align:left}
table.class tfoot td,table.class tfoot th{background:var(--head);color:var(--muted)}
td.cell small{font-size:11px;margin-right:6px;text-transform:uppercase;letter-spacing:.03em}
td.cell a{color:inherit}
.t-pass{background:var(--pass-bg);color:var(--pass)}.t-partial{background:var(--partial-bg);color:var(--partial)}
.t-zero{background:var(--zero-bg);color:var(--zero)}.t-error{background:var(--error-bg);color:var(--zero)}
.t-timeout{background:var(--timeout-bg);color:var(--timeout)}.t-missing,.t-absent{color:var(--muted)}
td.total{font-weight:700}
.meter{display:inline-block;width:48px;height:6px;border-radius:3px;background:var(--line);margin-right:6px;vertical-align:middle;overflow:hidden}.meter span{display:block;height:100%;background:var(--bar)}
tr.flagged th[scope=row]{box-shadow:inset 4px 0 0 var(--flag);background:var(--flag-bg)}
tr.flagged td.flags{background:var(--flag-bg)}
.flag-mark{color:var(--flag);font-weight:700}
.badge{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;border:1px solid}
.b-flag{color:var(--flag);border-color:var(--flag);background:var(--flag-bg)}.b-integrity{color:var(--zero);border-color:var(--zero);background:var(--zero-bg)}.b-error{color:var(--zero);border-color:var(--zero)}.b-missing{color:var(--muted);border-color:var(--line)}
.hists{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px 8px 6px}
figure.overall{border-width:2px}
figcaption{font-size:13px;color:var(--muted);text-align:center}figcaption b{color:var(--fg)}
svg.hist .bar{fill:var(--bar)}svg.hist .bar-zero{fill:var(--zero)}svg.hist .bar-full{fill:var(--pass)}
svg.hist .base{stroke:var(--line)}svg.hist text{fill:var(--muted);font:11px system-ui,sans-serif}svg.hist text.count{fill:var(--fg);font-weight:600}
.tools{margin:0 0 8px}.tools button{font:inherit;border:1px solid var(--line);background:var(--head);color:var(--fg);border-radius:6px;padding:2px 10px;cursor:pointer}
details.student{border:1px solid var(--line);border-radius:8px;margin:8px 0;padding:0 12px}
details.student>summary{cursor:pointer;padding:8px 0;font-weight:600}
details.student .score{font-variant-numeric:tabular-nums;color:var(--muted);margin-left:8px}
details.student.flagged{border-color:var(--flag);box-shadow:inset 4px 0 0 var(--flag)}
details.student[open]{padding-bottom:10px}
.ex{border-top:1px solid var(--line);padding:10px 0 4px}
.ex h4 .score{float:right}
.chip{display:inline-block;min-width:70px;text-align:center;border-radius:4px;padding:0 6px;font-size:12px}
.problem{margin:2px 0 8px;color:var(--zero);font-weight:600}
pre.diff{margin:4px 0 6px;max-height:320px}pre.diff .d-add{color:var(--pass);background:var(--pass-bg);display:inline-block;min-width:100%}pre.diff .d-del{color:var(--zero);background:var(--zero-bg);display:inline-block;min-width:100%}pre.diff .d-hunk{color:var(--muted)}
.integrity{border:1px solid var(--zero);background:var(--zero-bg);border-radius:6px;padding:6px 10px;margin:6px 0}.integrity b{color:var(--zero)}.integrity ul{margin:4px 0 0;padding-left:20px}
.t-integrity{background:var(--zero-bg);color:var(--zero);font-weight:700}.integrity-mark{color:var(--zero)}
.given{display:inline-block;margin-left:6px;padding:0 5px;border:1px solid var(--line);border-radius:3px;font-size:11px;color:var(--muted);opacity:.75}
.tamper{border:1px solid var(--flag);background:var(--flag-bg);border-radius:6px;padding:6px 10px;margin:6px 0}.tamper b{color:var(--flag)}.tamper ul{margin:4px 0 0;padding-left:20px}
ul.tests{list-style:none;padding-left:0;margin:4px 0}ul.tests li{margin:4px 0}
ul.tests .mark{font-weight:700}li.t-fail{background:none}li.t-fail .mark{color:var(--zero)}li.t-pass{background:none}li.t-pass .mark{color:var(--pass)}
pre{background:var(--head);border:1px solid var(--line);border-radius:6px;padding:6px 10px;margin:4px 0 4px 18px;white-space:pre-wrap;word-break:break-word;max-height:260px;overflow:auto}
details.passing>summary,details.output>summary{cursor:pointer;color:var(--muted)}
footer{margin-top:40px;color:var(--muted);font-size:12px}
@media print{details.student{break-inside:avoid}table.class thead th{position:static}}
`;

const SCRIPT = `
(function(){
  function openTarget(){var id=decodeURIComponent(location.hash.slice(1));if(!id)return;var el=document.getElementById(id);if(!el)return;var d=el.closest('details.student');if(d)d.open=true;el.scrollIntoView();}
  window.addEventListener('hashchange',openTarget);openTarget();
  document.querySelectorAll('[data-toggle]').forEach(function(b){b.addEventListener('click',function(){var open=b.getAttribute('data-toggle')==='open';document.querySelectorAll('details.student').forEach(function(d){d.open=open;});});});
  var table=document.getElementById('class');if(!table)return;
  table.querySelectorAll('thead th').forEach(function(th,col){var asc=false;th.addEventListener('click',function(){asc=!asc;var num=th.getAttribute('data-type')==='num';var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){var x=a.cells[col].getAttribute('data-sort'),y=b.cells[col].getAttribute('data-sort');var r=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return asc?r:-r;});rows.forEach(function(r){body.appendChild(r);});});});
})();
`;

export function indexHtml(book: Gradebook, generatedAt: Date = new Date()): string {
  const stats = statistics(book);
  const m = book.manifest;
  const scope = [
    `${stats.submissions} submission${stats.submissions === 1 ? '' : 's'} × ${book.exercises.length} exercise${book.exercises.length === 1 ? '' : 's'}`,
    m.allOrNothing
      ? 'all-or-nothing: full points only when every test passes'
      : 'partial credit: points × passed / total',
    m.shard ? `shard ${m.shard.index}/${m.shard.count}` : '',
    m.mergedFrom ? `merged from ${m.mergedFrom.length} outputs` : '',
    `generated ${generatedAt
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC')}`,
  ].filter(Boolean);
  const card = (value: string, label: string, cls = '') =>
    `<div class="card${cls ? ` ${cls}` : ''}"><b>${value}</b><span>${label}</span></div>`;
  const problems = stats.errors + stats.timeouts;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cachelab grades — ${stats.submissions} submissions</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>cachelab grades</h1>
<p class="meta">${scope.map(h).join(' · ')}</p>
<div class="cards">
${card(String(stats.submissions), 'submissions')}
${card(`${formatScore(stats.mean)} <small>/ ${formatScore(book.max)}</small>`, `mean score (${pct(stats.mean, book.max)}%)`)}
${card(formatScore(stats.median), 'median')}
${card(String(stats.fullMarks), 'full marks')}
${card(String(stats.flagged.length), 'flagged: tests or config differ', stats.flagged.length ? 'warn' : '')}
${stats.integrity.length ? card(String(stats.integrity.length), 'failed an integrity check (0 for that exercise)', 'bad') : ''}
${card(String(problems), `runs with errors (${stats.errors}) or timeouts (${stats.timeouts})`, problems ? 'bad' : '')}
${stats.notSubmitted ? card(String(stats.notSubmitted), 'exercises not submitted (0 points each)', '') : ''}
${stats.missing ? card(String(stats.missing), 'runs not graded', 'bad') : ''}
</div>
</header>
<main>
<h2>Class</h2>
<p class="meta">Each cell is an exercise's score; hover it for the tests, click it for the details. Click a column to sort.${stats.flagged.length ? ' <span class="badge b-flag">⚑</span> marks a submission whose tests or configuration differ from the pristine copies.' : ''}</p>
<div class="scroll">${classTable(book)}</div>
<h2>Scores per exercise</h2>
${histograms(book)}
<h2>Submissions</h2>
<p class="tools"><button type="button" data-toggle="open">Expand all</button> <button type="button" data-toggle="close">Collapse all</button></p>
${book.rows.map(submissionDetails).join('\n')}
</main>
<footer>Graded by <code>cachelab grade</code> against the pristine tests in <code>${h(m.root)}</code>. Tests and configuration always come from the pristine exercise; only <code>src/</code> comes from a submission.</footer>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
