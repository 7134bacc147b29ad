import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../repo.ts';

/**
 * The sandbox a graded run happens in: bubblewrap (`bwrap`, Debian's `bubblewrap`), run as
 * an unprivileged uid of the run's own. What the student's code gets:
 *
 *  - its own PID, mount, IPC, UTS and NETWORK namespaces: it sees only its own processes,
 *    only the files bound below, and only a loopback interface (the services come through
 *    proxies the grader holds, see grade/sandbox/run-services.ts);
 *  - read-only: /usr, /etc, node, the repository's node_modules, packages/ and lessons/
 *    (the code an exercise may import), the repository's package.json and tsconfig base,
 *    and the run's workspace (the pinned tests and the submitted src/);
 *  - writable: a private /tmp (tmpfs) and nothing else;
 *  - never: exercises/, solutions/, .cachelab/ (other runs' workspaces), the grader's
 *    --out, other submissions, the grader's /proc;
 *  - /proc of its own PID namespace, mounted read-only (no writes to /proc/<pid>/mem);
 *  - a seccomp filter that refuses ptrace, process_vm_readv/writev and pidfd_getfd, so
 *    that a test's worker cannot reach into the vitest process that reports the results;
 *  - no new privileges, no nested user namespaces (`--disable-userns`), every capability
 *    dropped; the whole tree dies with the launcher (`--die-with-parent`, PID namespace).
 *
 * Where bwrap cannot run (not Linux, not installed, user namespaces off), `probeSandbox()`
 * says why and the grader reports every run as unsandboxed (`--require-sandbox` refuses).
 */

export interface SandboxSupport {
  available: boolean;
  /** Why not, in words an instructor can act on. */
  reason?: string;
}

let probed: SandboxSupport | undefined;

/** The uid/gid runs get when the grader runs as root: one per run slot, never a real user. */
const UID_BASE = 61_000;
const UID_SLOTS = 1000;
let nextSlot = 0;

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** A uid of its own for each run (root only; otherwise the instructor's uid, mapped inside). */
export function sandboxUid(): number | undefined {
  if (!isRoot()) return undefined;
  nextSlot = (nextSlot + 1) % UID_SLOTS;
  return UID_BASE + ((process.pid + nextSlot) % UID_SLOTS);
}

/** Can this machine sandbox a run? Checked once per process, by running `true` in one. */
export function probeSandbox(): SandboxSupport {
  // Read each time, so that one process can grade with and without (scripts/sandbox-cost.ts).
  if (process.env.CACHELAB_SANDBOX === 'off') return { available: false, reason: 'CACHELAB_SANDBOX=off was set' };
  if (probed) return probed;
  if (platform() !== 'linux') {
    probed = { available: false, reason: `the sandbox needs Linux (this is ${platform()})` };
    return probed;
  }
  if (!seccompSyscalls()) {
    probed = { available: false, reason: `no seccomp filter for the ${arch()} architecture` };
    return probed;
  }
  try {
    execFileSync('bwrap', ['--version'], { stdio: 'ignore' });
  } catch {
    probed = {
      available: false,
      reason: 'bubblewrap is not installed (Debian/Ubuntu: `sudo apt-get install bubblewrap`)',
    };
    return probed;
  }
  // The probe is a real run's sandbox, around the repository's node_modules: bwrap runs as
  // the run's uid, which must be able to reach the repository (a clone in a private
  // `mktemp -d` folder is out of its reach).
  let launch: SandboxLaunch | undefined;
  try {
    launch = sandboxCommand({
      workspace: join(REPO_ROOT, 'node_modules'),
      env: { PATH: '/usr/bin:/bin' },
      command: [process.execPath, '-e', ''],
    });
    execFileSync(launch.file, launch.args, {
      stdio: ['ignore', 'ignore', 'pipe', 'ignore', ...launch.fds],
      timeout: 10_000,
      ...(launch.uid !== undefined ? { uid: launch.uid, gid: launch.uid } : {}),
    });
    probed = { available: true };
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    const first = stderr.split('\n')[0] || (err as Error).message;
    probed = {
      available: false,
      reason: /Permission denied/.test(first)
        ? `the sandbox's user (uid ${launch?.uid ?? process.getuid?.()}) cannot reach ${REPO_ROOT}: a folder on the way is private; let others through it (chmod o+x on each folder of that path)`
        : `bubblewrap cannot create namespaces here (${first}); unprivileged user namespaces may be disabled (sysctl kernel.unprivileged_userns_clone=1)`,
    };
  } finally {
    launch?.cleanup();
  }
  return probed;
}

function systemBinds(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const dir of ['bin', 'sbin', 'lib', 'lib64', 'lib32']) {
    if (!existsSync(`/${dir}`)) continue;
    // Debian's merged /usr: /bin → usr/bin. Bind whatever it is, read-only.
    args.push('--ro-bind', `/${dir}`, `/${dir}`);
  }
  args.push('--ro-bind', '/etc', '/etc');
  const nodeDir = dirname(process.execPath);
  if (!nodeDir.startsWith('/usr/')) args.push('--ro-bind', nodeDir, nodeDir);
  return args;
}

export interface SandboxPlan {
  /** The run's workspace (pinned tests + submitted src/): bound read-only at the same path. */
  workspace: string;
  /** The root of the exercises graded against, when it is not this repository (fixtures). */
  extraReadOnly?: string[];
  /** The folder holding the services' Unix sockets (bound read-only: connecting needs no write). */
  socketDir?: string;
  /** The environment, complete: nothing of the grader's own is passed on. */
  env: Record<string, string>;
  /** The command inside the sandbox. */
  command: string[];
}

export interface SandboxLaunch {
  file: string;
  args: string[];
  uid?: number;
  /**
   * Descriptors to pass as fd 4, 5, … (fd 3 is the report channel): the seccomp program and
   * the paths bound by descriptor. bwrap binds them and closes them before the command runs.
   */
  fds: number[];
  /** Close the descriptors and remove the seccomp program's temporary file. */
  cleanup(): void;
}

/**
 * The bwrap command line for one run. Binds are added in order, so the tmpfs over /tmp
 * comes before the repository (a clone under /tmp is bound back on top of it).
 *
 * The repository's paths are bound by descriptor (opened here, by the grader), not by
 * path: bwrap runs as the run's unprivileged uid, which may not be allowed to walk to the
 * repository (a clone in a private `mktemp -d` folder), while a descriptor needs no walk.
 */
export function sandboxCommand(plan: SandboxPlan): SandboxLaunch {
  const uid = sandboxUid();
  const fds: number[] = [];
  const byFd = (path: string) => {
    fds.push(openSync(path, 'r'));
    return String(3 + fds.length);
  };
  const dir = mkdtempSync(join(tmpdir(), 'cachelab-seccomp-'));
  const filter = join(dir, 'filter.bpf');
  writeFileSync(filter, seccompProgram());
  const args = [
    ...systemBinds(),
    '--proc',
    '/proc',
    '--remount-ro',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--tmpfs',
    '/run',
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--hostname',
    'cachelab-sandbox',
    '--die-with-parent',
    '--new-session',
    '--cap-drop',
    'ALL',
    '--clearenv',
    '--seccomp',
    byFd(filter),
  ];
  const readOnly = [
    ...['node_modules', 'packages', 'lessons', 'package.json', 'tsconfig.base.json'].map((p) => join(REPO_ROOT, p)),
    ...(plan.extraReadOnly ?? []),
    plan.workspace,
    ...(plan.socketDir ? [plan.socketDir] : []),
  ];
  for (const path of readOnly) if (existsSync(path)) args.push('--ro-bind-fd', byFd(path), path);
  args.push('--chdir', plan.workspace);
  for (const [key, value] of Object.entries(plan.env)) args.push('--setenv', key, value);
  args.push('--', ...plan.command);
  return {
    file: 'bwrap',
    args,
    ...(uid !== undefined ? { uid } : {}),
    fds,
    cleanup() {
      for (const fd of fds.splice(0)) {
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * System calls the sandbox refuses (EPERM), by architecture:
 *  - the ways one process of the run could read or write another's memory or descriptors
 *    (ptrace, process_vm_readv/writev, pidfd_getfd, kcmp);
 *  - SIGUSR1, whoever sends it: it opens a Node process's inspector, and a test's worker
 *    would then run code inside the vitest process that reports the results (found by
 *    review). Nothing in a run needs it. The signal is at argument `signalArg` of each call.
 * Everything else is allowed: the namespaces, the read-only binds and the uid do the rest.
 */
interface SeccompSpec {
  auditArch: number;
  denied: number[];
  /** [system call, index of its signal argument] for kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal. */
  signalling: [number, number][];
  x32?: boolean;
}

function seccompSyscalls(): SeccompSpec | undefined {
  switch (arch()) {
    case 'x64':
      return {
        auditArch: 0xc000003e,
        denied: [101, 310, 311, 438, 312],
        signalling: [
          [62, 1],
          [200, 1],
          [234, 2],
          [129, 1],
          [297, 2],
          [424, 1],
        ],
        x32: true,
      };
    case 'arm64':
      return {
        auditArch: 0xc00000b7,
        denied: [117, 270, 271, 438, 272],
        signalling: [
          [129, 1],
          [130, 1],
          [131, 2],
          [138, 1],
          [240, 2],
          [424, 1],
        ],
      };
    default:
      return undefined;
  }
}

const SIGUSR1 = 10;

/** A classic BPF seccomp program (struct sock_filter[]), as bwrap's --seccomp reads it. */
export function seccompProgram(): Buffer {
  const spec = seccompSyscalls();
  if (!spec) throw new Error(`no seccomp filter for ${arch()}`);
  const LD_W_ABS = 0x20;
  const JEQ_K = 0x15;
  const JGE_K = 0x35;
  const RET_K = 0x06;
  const ALLOW = 0x7fff0000;
  const KILL = 0x80000000; // SECCOMP_RET_KILL_PROCESS
  const EPERM = 0x00050000 | 1; // SECCOMP_RET_ERRNO | EPERM
  // Jumps name a label; they are resolved to relative offsets at the end.
  type Insn = { code: number; k: number; jt?: string; jf?: string; label?: string };
  const insns: Insn[] = [];
  // A program for another architecture (a 32-bit binary's calls) is killed, not guessed at.
  insns.push({ code: LD_W_ABS, k: 4 }); // seccomp_data.arch
  insns.push({ code: JEQ_K, k: spec.auditArch, jf: 'kill' });
  insns.push({ code: LD_W_ABS, k: 0 }); // seccomp_data.nr
  // x32 system calls (nr | 0x40000000) on x86-64: refused outright.
  if (spec.x32) insns.push({ code: JGE_K, k: 0x40000000, jt: 'eperm' });
  for (const nr of spec.denied) insns.push({ code: JEQ_K, k: nr, jt: 'eperm' });
  for (const [nr, arg] of spec.signalling) insns.push({ code: JEQ_K, k: nr, jt: `signal${arg}` });
  insns.push({ code: RET_K, k: ALLOW });
  for (const arg of new Set(spec.signalling.map(([, a]) => a))) {
    // The low 32 bits of seccomp_data.args[arg] (little-endian): the signal number.
    insns.push({ code: LD_W_ABS, k: 16 + 8 * arg, label: `signal${arg}` });
    insns.push({ code: JEQ_K, k: SIGUSR1, jt: 'eperm' });
    insns.push({ code: RET_K, k: ALLOW });
  }
  insns.push({ code: RET_K, k: EPERM, label: 'eperm' });
  insns.push({ code: RET_K, k: KILL, label: 'kill' });
  const at = new Map(insns.flatMap((insn, i) => (insn.label ? [[insn.label, i] as const] : [])));
  const offset = (from: number, label: string | undefined) => {
    if (label === undefined) return 0;
    const to = at.get(label);
    if (to === undefined || to - from - 1 < 0 || to - from - 1 > 255) throw new Error(`bad jump to ${label}`);
    return to - from - 1;
  };
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((insn, i) => {
    buf.writeUInt16LE(insn.code, i * 8);
    buf.writeUInt8(offset(i, insn.jt), i * 8 + 2);
    buf.writeUInt8(offset(i, insn.jf), i * 8 + 3);
    buf.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return buf;
}
