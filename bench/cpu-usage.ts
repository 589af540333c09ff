// Where the CPU goes while calls are in flight: this process (the herder), the bot, and the sshd processes
// of each hop, read from /proc. Lets the throughput case say which side is the bottleneck, with numbers.
import { readFileSync, readdirSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on every mainstream kernel). */
const ticksPerSecond = 100;

/** user + system CPU ms of a process, or 0 once it has exited (it used nothing more since). */
function processCpuMs(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ESRCH') return 0;
    throw error;
  }
  // "pid (comm) state ppid ... utime stime": fields after the comm's closing parenthesis, utime is the 12th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    // Gone between readdir and read: not a descendant of anything any more.
    return undefined;
  }
}

/** A process and all its descendants (an sshd listener's per-connection monitors and their privsep children). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = parentOf(Number(entry));
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
  }
  const tree: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    tree.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Named groups of processes; `self` means this process (measured with process.cpuUsage). */
export type CpuGroups = Record<string, 'self' | (() => number[])>;

/** CPU ms used so far by each group. Groups given as pid lists are re-listed on every snapshot (sshd forks). */
export function cpuSnapshot(groups: CpuGroups): Record<string, number> {
  const snapshot: Record<string, number> = {};
  for (const [name, members] of Object.entries(groups)) {
    if (members === 'self') {
      const usage = process.cpuUsage();
      snapshot[name] = (usage.user + usage.system) / 1000;
    } else {
      snapshot[name] = members().reduce((sum, pid) => sum + processCpuMs(pid), 0);
    }
  }
  return snapshot;
}
