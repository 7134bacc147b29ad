/**
 * How results are shown: a Markdown table (prints well in a terminal and pastes into a
 * README as is), horizontal bars in the terminal, and the same bars as SVG in a
 * self-contained HTML page (no script, no external file) that any browser opens.
 */

export interface Column<Row> {
  header: string;
  /** The cell's text. */
  value(row: Row): string;
  /** Right-align (numbers). Default false. */
  numeric?: boolean;
}

/** A Markdown table, columns padded so it also reads well as plain text. */
export function markdownTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, 3, ...cells.map((r) => (r[i] as string).length)));
  const pad = (text: string, i: number) =>
    columns[i]?.numeric ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number);
  const line = (texts: string[]) => `| ${texts.map(pad).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (columns[i]?.numeric ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(columns.map((c) => c.header)), rule, ...cells.map(line)].join('\n');
}

/** 12,345 */
export const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—');
/** 1.23 (digits after the point) */
export const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
/** 97.5 % */
export const percent = (ratio: number | undefined, digits = 1) =>
  ratio === undefined || !Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(digits)} %`;
/** 17.8 MB */
export const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export interface Bar {
  label: string;
  value: number;
  /** Shown after the bar instead of the bare value, e.g. '12,345 req/s (0.97×)'. */
  text?: string;
  /** Bars of one series share a colour (SVG) and are named in the legend. */
  series?: string;
}

const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** Horizontal bars for a terminal, scaled to the largest value. */
export function terminalBars(bars: readonly Bar[], options: { width?: number; title?: string } = {}): string {
  const width = options.width ?? 40;
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  const labelWidth = Math.max(...bars.map((b) => (b.series ? `${b.label} · ${b.series}` : b.label).length));
  const lines = bars.map((b) => {
    const eighths = Math.round((Math.max(0, b.value) / max) * width * 8);
    const bar = '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
    const label = (b.series ? `${b.label} · ${b.series}` : b.label).padEnd(labelWidth);
    return `${label}  ${bar.padEnd(width + 1)} ${b.text ?? int(b.value)}`;
  });
  return (options.title ? [options.title, ...lines] : lines).join('\n');
}

const PALETTE = ['#2563eb', '#f97316', '#16a34a', '#9333ea', '#dc2626', '#0891b2'];

const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The same bars as an SVG image (horizontal, labelled, a legend when there are series). */
export function svgBars(bars: readonly Bar[], options: { title: string; width?: number }): string {
  const width = options.width ?? 860;
  const series = [...new Set(bars.map((b) => b.series).filter((s): s is string => s !== undefined))];
  const labelWidth = Math.min(320, 12 + 7.2 * Math.max(...bars.map((b) => b.label.length)));
  const textWidth = Math.min(440, 16 + 6.9 * Math.max(...bars.map((b) => (b.text ?? int(b.value)).length)));
  const barArea = width - labelWidth - textWidth - 20;
  const rowHeight = 22;
  const top = 40 + (series.length > 1 ? 22 : 0);
  const height = top + bars.length * rowHeight + 16;
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" style="max-width: 100%; height: auto" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="24" font-size="16" font-weight="600" fill="#111827">${escapeXml(options.title)}</text>`,
  ];
  series.forEach((s, i) => {
    const x = 10 + i * 170;
    parts.push(
      `<rect x="${x}" y="36" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${x + 18}" y="46" fill="#374151">${escapeXml(s)}</text>`,
    );
  });
  let previousLabel: string | undefined;
  bars.forEach((b, i) => {
    const y = top + i * rowHeight;
    const w = Math.max(1, (Math.max(0, b.value) / max) * barArea);
    const colour = PALETTE[(b.series ? series.indexOf(b.series) : 0) % PALETTE.length];
    if (b.label !== previousLabel) {
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" fill="#111827">${escapeXml(b.label)}</text>`,
      );
    }
    previousLabel = b.label;
    parts.push(
      `<rect x="${labelWidth}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowHeight - 6}" rx="2" fill="${colour}"/>`,
      `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}" fill="#374151">${escapeXml(b.text ?? int(b.value))}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface ReportSection {
  heading: string;
  /** A paragraph of plain text under the heading. */
  text?: string;
  /** An SVG image (from svgBars). */
  svg?: string;
  /** A Markdown table (from markdownTable), shown as an HTML table. */
  table?: string;
}

/** A self-contained HTML page: headings, text, SVG charts and tables. */
export function htmlReport(title: string, intro: string, sections: readonly ReportSection[]): string {
  const tableHtml = (markdown: string) => {
    const rows = markdown
      .split('\n')
      .filter((_, i) => i !== 1)
      .map((line) =>
        line
          .replace(/^\|\s*|\s*\|$/g, '')
          .split(' | ')
          .map((c) => c.trim()),
      );
    const [head, ...body] = rows;
    return `<table><thead><tr>${(head ?? []).map((c) => `<th>${escapeXml(c)}</th>`).join('')}</tr></thead><tbody>${body
      .map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`)
      .join('')}</tbody></table>`;
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2rem auto; padding: 0 1rem; color: #111827; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 14px; }
th, td { border: 1px solid #d1d5db; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f4f6; }
p { line-height: 1.5; }
</style></head><body>
<h1>${escapeXml(title)}</h1>
<p>${escapeXml(intro)}</p>
${sections
  .map(
    (s) =>
      `<h2>${escapeXml(s.heading)}</h2>\n${s.text ? `<p>${escapeXml(s.text)}</p>\n` : ''}${s.svg ?? ''}\n${s.table ? tableHtml(s.table) : ''}`,
  )
  .join('\n')}
</body></html>
`;
}
