import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Malformed submissions, one per way a class hands in something the grader must survive.
 * They are built at test time into a temporary folder, because most of them cannot live in
 * git: a FIFO, a link to /dev/stdin, a 1.5 MB file, a zip with backslashes in its paths.
 * Each builder makes `<parent>/<id>` (or `<parent>/<id>.zip`) and returns that path; every
 * one of them is graded against fixtures/exercises (01-fixture, 10 points; 02-fixture-words,
 * 5 points).
 */
export const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const variant = (name: string, file: string) => join(fixtures, 'variants', name, file);
const RIGHT_PRICE = variant('right', 'price.ts');
const RIGHT_WORDS = variant('words-right', 'words.ts');
const PRICE_TEST = join(fixtures, 'exercises/01-fixture/test/price.test.ts');

function put(dir: string, path: string, content: string | Buffer): void {
  mkdirSync(join(dir, path, '..'), { recursive: true });
  writeFileSync(join(dir, path), content);
}

const E1 = 'exercises/01-fixture';
const E2 = 'exercises/02-fixture-words';

/** Each builder: (parent folder) → the submission's path. */
export const MALFORMED = {
  /** exercises/01-fixture/src is a plain file (scandir would throw ENOTDIR); 02 is right. */
  'src-is-a-file': (parent: string) => {
    const dir = join(parent, 'src-is-a-file');
    put(dir, `${E1}/src`, readFileSync(RIGHT_PRICE));
    put(dir, `${E2}/src/words.ts`, readFileSync(RIGHT_WORDS));
    return dir;
  },
  /** exercises/01-fixture/test is a plain file; its src/ is right. */
  'test-is-a-file': (parent: string) => {
    const dir = join(parent, 'test-is-a-file');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    put(dir, `${E1}/test`, 'not a folder');
    return dir;
  },
  /** A right src/ plus src/secret.txt → /etc/passwd: its content must never reach a report. */
  'secret-link': (parent: string) => {
    const dir = join(parent, 'secret-link');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    symlinkSync('/etc/passwd', join(dir, `${E1}/src/secret.txt`));
    return dir;
  },
  /** test/price.test.ts → /dev/stdin: reading it would freeze the grader. */
  'stdin-link': (parent: string) => {
    const dir = join(parent, 'stdin-link');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    mkdirSync(join(dir, `${E1}/test`), { recursive: true });
    symlinkSync('/dev/stdin', join(dir, `${E1}/test/price.test.ts`));
    return dir;
  },
  /** package.json → /dev/zero: reading it would exhaust memory. */
  'zero-link': (parent: string) => {
    const dir = join(parent, 'zero-link');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    symlinkSync('/dev/zero', join(dir, `${E1}/package.json`));
    return dir;
  },
  /** A FIFO in test/: opening it for reading would block until someone writes. */
  'fifo-in-test': (parent: string) => {
    const dir = join(parent, 'fifo-in-test');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    mkdirSync(join(dir, `${E1}/test`), { recursive: true });
    execFileSync('mkfifo', [join(dir, `${E1}/test/extra.test.ts`)]);
    return dir;
  },
  /** A 1.5 MB file in src/ beside a right price.ts. */
  'huge-src-file': (parent: string) => {
    const dir = join(parent, 'huge-src-file');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    put(dir, `${E1}/src/data.json`, Buffer.alloc(1_500_000, 0x20));
    return dir;
  },
  /** exercises/ itself is a link to another folder. */
  'exercises-link': (parent: string) => {
    const dir = join(parent, 'exercises-link');
    const elsewhere = join(parent, '.elsewhere');
    put(elsewhere, '01-fixture/src/price.ts', readFileSync(RIGHT_PRICE));
    mkdirSync(dir, { recursive: true });
    symlinkSync(elsewhere, join(dir, 'exercises'));
    return dir;
  },
  /** A test file of 400 KB added beside the pristine ones: flagged, hashed, but not diffed. */
  'large-added-test': (parent: string) => {
    const dir = join(parent, 'large-added-test');
    put(dir, `${E1}/src/price.ts`, readFileSync(RIGHT_PRICE));
    cpSync(PRICE_TEST, join(dir, `${E1}/test/price.test.ts`));
    put(dir, `${E1}/test/big.test.ts`, `// ${'x'.repeat(400_000)}\n`);
    return dir;
  },
  /**
   * A zip written by a Windows tool: backslashes as path separators, so unzip warns (exit
   * code 1) but extracts. Holds a right 01.
   */
  'zip-backslashes': (parent: string) => {
    const path = join(parent, 'zip-backslashes.zip');
    writeFileSync(
      path,
      zip([['work\\exercises\\01-fixture\\src\\price.ts', readFileSync(RIGHT_PRICE)]], { madeByDos: true }),
    );
    return path;
  },
  /** A zip whose directory says it extracts to 300 MB (a zip bomb, or a zip of node_modules): refused unextracted. */
  'zip-too-big': (parent: string) => {
    const path = join(parent, 'zip-too-big.zip');
    writeFileSync(
      path,
      zip([['exercises/01-fixture/src/price.ts', readFileSync(RIGHT_PRICE)]], { claimBytes: 300 * 1024 * 1024 }),
    );
    return path;
  },
  /** Not a zip at all, whatever its name says. */
  'zip-not-a-zip': (parent: string) => {
    const path = join(parent, 'zip-not-a-zip.zip');
    writeFileSync(path, 'this is a Word document, honest\n');
    return path;
  },
  /** GitHub's "Download ZIP" of a repository, re-zipped on a Mac: one top folder and stray files beside it. */
  'zip-stray-files': (parent: string) => {
    const path = join(parent, 'zip-stray-files.zip');
    writeFileSync(
      path,
      zip([
        ['cachelab-main/', Buffer.alloc(0)],
        ['cachelab-main/exercises/01-fixture/src/price.ts', readFileSync(RIGHT_PRICE)],
        ['NOTES.txt', Buffer.from('I did the first exercise.\n')],
        ['.DS_Store', Buffer.from('\0\0\0\x01Bud1')],
        ['__MACOSX/cachelab-main/._exercises', Buffer.from('\0\x05\x16\x07')],
      ]),
    );
    return path;
  },
} as const;

export type MalformedId = keyof typeof MALFORMED;

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * A zip of stored (uncompressed) entries, byte by byte as PKWARE's APPNOTE describes it, so
 * that a test can make the zips real tools make, odd names included. `madeByDos` marks the
 * archive as made on MS-DOS/Windows (host 0), as the tools that write backslashes do;
 * `claimBytes` is the uncompressed size each entry claims in the central directory.
 */
export function zip(
  entries: [name: string, data: Buffer][],
  options: { madeByDos?: boolean; claimBytes?: number } = {},
): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name, 'latin1');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x21, 12); // date: 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(options.madeByDos ? 20 : (3 << 8) | 20, 4); // made by: host 0 (DOS) or 3 (Unix)
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(options.claimBytes ?? data.length, 24); // uncompressed size, as the directory claims it
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    // External attributes: the DOS directory bit, or the Unix mode in the high 16 bits (a
    // mode of 0 would extract files nobody may read).
    const unixMode = name.endsWith('/') ? 0o040755 : 0o100644;
    central.writeUInt32LE(options.madeByDos ? (name.endsWith('/') ? 0x10 : 0) : (unixMode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
