import { StringDecoder } from 'node:string_decoder';
import type { ChannelMessage, ChannelModule, ChannelReport, ChannelTestEnd } from './channel-reporter.ts';

/**
 * The runner's side of the report channel (channel-reporter.ts): the bytes as they arrive,
 * read line by line while the run goes on, so that a run stopped at its timeout still says
 * which checks passed, which failed and which one was running.
 *
 * What is accepted, and why it can be trusted: the channel is a socket only vitest's main
 * process holds, so the bytes are the reporter's. Still, a stream that is not exactly what
 * the reporter writes is refused whole (`rejected`), as a forged or damaged one:
 *  - every line is one JSON object of a known type with fields of the right types;
 *  - at most one `report`, and nothing after it; a finished run's stream ends with a newline;
 *  - at most `limit` bytes.
 * A refused stream has no progress and no report: the run is an error, or a timeout.
 */

/** A test as the stream knows it, with when it started and ended (this process's clock, ms). */
export interface ProgressTest {
  id: string;
  file: string;
  path: string[];
  location?: { line: number; column: number };
  /** Still running when the stream stopped: `undefined`. */
  end?: ChannelTestEnd;
  startedAt: number;
  endedAt?: number;
}

export class ChannelReader {
  readonly #limit: number;
  readonly #now: () => number;
  #pending = '';
  /** A character cut between two chunks waits here for its other bytes (not U+FFFD twice). */
  readonly #decoder = new StringDecoder('utf8');
  #received = 0;
  #lastMessageAt: number;
  #rejected: string | undefined;
  #report: ChannelReport | undefined;
  readonly #tests = new Map<string, ProgressTest>();
  readonly #modules: ChannelModule[] = [];
  /** Tests that failed on their timeout one after the other, most recent last. */
  #hungInARow: ProgressTest[] = [];

  constructor(options: { limit: number; now?: () => number }) {
    this.#limit = options.limit;
    this.#now = options.now ?? (() => performance.now());
    this.#lastMessageAt = this.#now();
  }

  /** Feed the bytes as they arrive. */
  push(chunk: Buffer | string): void {
    if (this.#rejected) return;
    this.#received += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.#received > this.#limit) {
      this.#reject(`more than ${this.#limit} bytes`);
      return;
    }
    this.#pending += typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    let newline = this.#pending.indexOf('\n');
    while (newline >= 0 && !this.#rejected) {
      const line = this.#pending.slice(0, newline);
      this.#pending = this.#pending.slice(newline + 1);
      this.#line(line);
      newline = this.#pending.indexOf('\n');
    }
  }

  /**
   * The stream has ended. A line cut short is damage in a run that finished; in one that was
   * killed (`killed`), it is the write the kill interrupted, and it is dropped.
   */
  end(killed: boolean): void {
    if (this.#pending !== '' && !killed && !this.#rejected) this.#reject('the last line is incomplete');
    this.#pending = '';
  }

  /** Why the stream was refused; undefined while it is what the reporter writes. */
  get rejected(): string | undefined {
    return this.#rejected;
  }

  get received(): number {
    return this.#received;
  }

  /** When the last message arrived (or the reader was made), on the clock it was given. */
  get lastMessageAt(): number {
    return this.#lastMessageAt;
  }

  /** The final report, when it arrived and the stream was not refused. */
  get report(): ChannelReport | undefined {
    return this.#rejected ? undefined : this.#report;
  }

  /** Every test that started or ended, in the order they started; [] for a refused stream. */
  get tests(): ProgressTest[] {
    return this.#rejected ? [] : [...this.#tests.values()];
  }

  /** The test files that loaded, each with its tests in order (tripwires included). */
  get modules(): ChannelModule[] {
    return this.#rejected ? [] : [...this.#modules];
  }

  /** The tests that timed out one after the other, up to now (a test that did not resets it). */
  get hungInARow(): ProgressTest[] {
    return this.#rejected ? [] : this.#hungInARow;
  }

  #reject(why: string): void {
    this.#rejected = why;
    this.#pending = '';
  }

  #line(line: string): void {
    if (this.#report) {
      this.#reject('a line came after the report');
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.#reject('a line is not JSON');
      return;
    }
    if (!isMessage(message)) {
      this.#reject('a line is not a message of the reporter');
      return;
    }
    const now = this.#now();
    this.#lastMessageAt = now;
    switch (message.type) {
      case 'report':
        this.#report = message;
        return;
      case 'module':
        this.#modules.push(message);
        return;
      case 'test-start': {
        if (this.#tests.has(message.id)) {
          this.#reject(`test ${message.id} started twice`);
          return;
        }
        const { id, file, path, location } = message;
        this.#tests.set(id, { id, file, path, ...(location ? { location } : {}), startedAt: now });
        return;
      }
      case 'test-end': {
        const known = this.#tests.get(message.id);
        if (known?.end) {
          this.#reject(`test ${message.id} ended twice`);
          return;
        }
        // A skipped test may end without having started.
        const { id, file, path, location } = message;
        const test = known ?? { id, file, path, ...(location ? { location } : {}), startedAt: now };
        test.end = message;
        test.endedAt = now;
        this.#tests.set(id, test);
        if (message.state === 'failed' && message.errors.some(isTestTimeout)) this.#hungInARow.push(test);
        else if (message.state !== 'skipped') this.#hungInARow = [];
        return;
      }
    }
  }
}

/** vitest's message for a test stopped at its testTimeout. */
export function isTestTimeout(error: string): boolean {
  return /^Test timed out in \d+ms/.test(error);
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isLocation = (v: unknown) =>
  v === undefined || (typeof v === 'object' && v !== null && isCount((v as Loc).line) && isCount((v as Loc).column));
type Loc = { line: unknown; column: unknown };

function isReportedTest(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const t = value as Record<string, unknown>;
  return (
    isString(t.file) &&
    isStrings(t.path) &&
    t.path.length > 0 &&
    isString(t.state) &&
    isStrings(t.errors) &&
    isCount(t.durationMs) &&
    isLocation(t.location) &&
    (t.integrity === undefined || isStrings(t.integrity))
  );
}

function isFileError(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  const source = e.source as Record<string, unknown> | undefined;
  return (
    isString(e.file) &&
    isString(e.message) &&
    (source === undefined || (isString(source.file) && isCount(source.line) && isCount(source.column)))
  );
}

function isMessage(value: unknown): value is ChannelMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'report':
      return (
        Array.isArray(m.tests) &&
        m.tests.every(isReportedTest) &&
        Array.isArray(m.fileErrors) &&
        m.fileErrors.every(isFileError) &&
        isStrings(m.unhandled) &&
        isString(m.reason)
      );
    case 'module':
      return (
        isString(m.file) &&
        Array.isArray(m.tests) &&
        m.tests.every((t: Record<string, unknown> | null) => {
          if (typeof t !== 'object' || t === null) return false;
          return isString(t.id) && isStrings(t.path) && t.path.length > 0 && isLocation(t.location);
        })
      );
    case 'test-start':
      return isString(m.id) && isString(m.file) && isStrings(m.path) && m.path.length > 0 && isLocation(m.location);
    case 'test-end':
      return (
        isString(m.id) &&
        isString(m.file) &&
        isStrings(m.path) &&
        m.path.length > 0 &&
        isLocation(m.location) &&
        (m.state === 'passed' || m.state === 'failed' || m.state === 'skipped') &&
        isStrings(m.errors) &&
        isCount(m.durationMs)
      );
    default:
      return false;
  }
}
