// CPU time a database server spent, read from Linux's /proc: the process named by a pid file and its direct
// children (PostgreSQL's backends are children of the postmaster; MariaDB's threads count in its one process).
// On a loaded machine a statement's wall time is mostly waiting for a core; CPU time is what it would cost on
// a quiet one.
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly ppid: number;
  readonly cpuTicks: number;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // the process ended between the listing and the read
  }
  // The command name (field 2) may hold spaces: the fields after its closing parenthesis are fixed.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** CPU milliseconds (user + system) of the server whose pid file is given, and of its children, so far. */
export function serverCpuMs(pidFile: string): number {
  const root = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isSafeInteger(root) || root <= 0) throw new Error(`${pidFile} holds no process id`);
  let ticks = procStat(root)?.cpuTicks ?? 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.ppid === root) ticks += stat.cpuTicks;
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** CPU milliseconds (user + system) of this process so far. */
export function clientCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
