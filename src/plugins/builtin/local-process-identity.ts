// Telling whether a local-process payload still runs, without being fooled by pid reuse: a process is ours
// only if its pid, its start time (clock ticks since boot, /proc/<pid>/stat field 22) and the boot it runs in
// all match what the payload's wrapper recorded about itself. Linux's /proc is the source; where it is
// missing, kill(pid, 0) is all we can ask.
import { readdir, readFile } from 'node:fs/promises';
import { isNotFound } from './worker-fields.js';

/** What the payload's wrapper wrote about itself when it claimed the access point. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Start time in clock ticks since boot; undefined when /proc was not readable. */
  readonly startTicks: string | undefined;
  /** /proc/sys/kernel/random/boot_id at start; undefined when not readable. */
  readonly bootId: string | undefined;
}

/** The fields of /proc/<pid>/stat we use. */
export interface ProcessStat {
  /** R, S, D, Z, T, ... */
  readonly state: string;
  readonly pgrp: number;
  readonly session: number;
  readonly startTicks: string;
}

const bootIdPath = '/proc/sys/kernel/random/boot_id';

/** Parses /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses: split after the last ')'. */
export function parseProcStat(text: string): ProcessStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // Field 3 (state) is index 0 of what follows "comm) ".
  const fields = text.slice(close + 2).trim().split(/\s+/);
  const [state, , pgrp, session] = fields;
  const startTicks = fields[19];
  if (state === undefined || pgrp === undefined || session === undefined || startTicks === undefined) return undefined;
  return { state, pgrp: Number(pgrp), session: Number(session), startTicks };
}

/** The process's stat, or undefined when there is no such process (or no /proc). */
export async function readProcessStat(pid: number): Promise<ProcessStat | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch (error) {
    if (isNotFound(error) || (error as { code?: unknown }).code === 'ESRCH') return undefined;
    throw error;
  }
}

let bootIdCache: string | undefined | null = null;

/** This boot's id, undefined without /proc. */
export async function currentBootId(): Promise<string | undefined> {
  if (bootIdCache !== null) return bootIdCache;
  try {
    bootIdCache = (await readFile(bootIdPath, 'utf8')).trim();
  } catch (error) {
    if (!isNotFound(error)) throw error;
    bootIdCache = undefined;
  }
  return bootIdCache;
}

export async function procAvailable(): Promise<boolean> {
  return (await readProcessStat(process.pid)) !== undefined;
}

/** kill(pid, 0): true when a process with that pid exists (EPERM: it exists, but is someone else's). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ESRCH') return false;
    if (code === 'EPERM') return true;
    throw error;
  }
}

/** Whether the identified process is still running (a zombie has ended; a reused pid is not ours). */
export async function isRunning(identity: ProcessIdentity): Promise<boolean> {
  const stat = await readProcessStat(identity.pid);
  if (stat === undefined) return (await procAvailable()) ? false : pidExists(identity.pid);
  if (stat.state === 'Z' || stat.state === 'X') return false;
  if (identity.bootId !== undefined) {
    const boot = await currentBootId();
    if (boot !== undefined && boot !== identity.bootId) return false;
  }
  return identity.startTicks === undefined || identity.startTicks === stat.startTicks;
}

/**
 * Live (non-zombie) members of each of the given process groups, from one scan of /proc. Groups without live
 * members are absent from the map. Without /proc, kill(-pgid, 0) answers (a group of zombies counts as live).
 */
export async function liveGroupMembers(pgids: ReadonlySet<number>): Promise<Map<number, number[]>> {
  const members = new Map<number, number[]>();
  if (pgids.size === 0) return members;
  if (!(await procAvailable())) {
    for (const pgid of pgids) if (pidExists(-pgid)) members.set(pgid, []);
    return members;
  }
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readProcessStat(Number(entry));
    if (stat === undefined || !pgids.has(stat.pgrp) || stat.state === 'Z' || stat.state === 'X') continue;
    const list = members.get(stat.pgrp) ?? [];
    list.push(Number(entry));
    members.set(stat.pgrp, list);
  }
  return members;
}

/** This process's own process group, so we never signal it. */
export async function ownProcessGroup(): Promise<number | undefined> {
  return (await readProcessStat(process.pid))?.pgrp;
}
