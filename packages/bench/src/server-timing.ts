/** Parse a Server-Timing header into name → duration (ms): `db;dur=12.3` → { db: 12.3 }. */
export function parseServerTiming(header: string | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    const dur = params.map((p) => p.trim()).find((p) => p.startsWith('dur='));
    out[name.trim()] = dur ? Number(dur.slice(4)) : 0;
  }
  return out;
}
