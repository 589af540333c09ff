// A worker's access point (the directory shared between harvester and the worker) comes from a template in the
// queue configuration, where `${workerID}` (or harvester's older `$workerID`) stands for the worker's ID. The
// submitter agent and `harvester plugins try` find the template and create the directories the same way.
//
// The one rule for a relative access point: it is relative to the home of the harvester process where the
// queue's access point owner runs (the messenger, else the submitter; see accessPointOwnerOf). The core
// resolves it under its own home only when the owner runs here (workerAccessPoint); for an owner in a bot it
// keeps it relative, and the bot resolves it under the bot's home when a call arrives (resolveAccessPointsUnder).
// Absolute access points are used as given on both sides. `queues check` warns when sections that get the
// access point run elsewhere than its owner (accessPointWarnings).
import { mkdir } from 'node:fs/promises';
import { isAbsolute, posix, resolve } from 'node:path';
import type { MiddlewareConfig, PluginSection, QueueConfig } from '../config/index.js';
import { WorkSpec } from '../spec/index.js';
import { PluginError } from './errors.js';

export class AccessPointError extends PluginError {
  constructor(
    readonly template: string,
    detail: string,
  ) {
    super(`access point '${template}': ${detail}`);
  }
}

const workerIDPattern = /\$\{workerID\}|\$workerID\b/;
const allWorkerIDs = new RegExp(workerIDPattern.source, 'g');

/**
 * Expands `${workerID}` in an access point template for one worker. A relative result is resolved under
 * `home` (harvester's working directory) when given; without `home` it is returned relative, as written.
 */
export function expandAccessPoint(template: string, workSpec: WorkSpec, home?: string): string {
  if (template.trim() === '') throw new AccessPointError(template, 'is empty');
  let expanded = template;
  if (workerIDPattern.test(template)) {
    const workerID: unknown = workSpec.workerID;
    if (workerID === undefined || workerID === null) {
      throw new AccessPointError(template, 'uses ${workerID} but the worker has no workerID yet');
    }
    expanded = template.replace(allWorkerIDs, String(workerID));
  }
  if (home !== undefined && !isAbsolute(expanded)) return resolve(home, expanded);
  return expanded;
}

/** Where a worker's access point is when the queue names none (relative: under the home of its owner's side). */
export const defaultAccessPointTemplate = 'workdir/${workerID}';

/** The access point template of a queue and the key it was read from ('(default)' when none). */
export interface AccessPointSource {
  readonly template: string;
  readonly from: 'messenger.accessPoint' | 'submitter.accessPoint' | 'accessPoint' | '(default)';
}

function namedTemplates(queue: QueueConfig): { from: Exclude<AccessPointSource['from'], '(default)'>; value: unknown }[] {
  return [
    { from: 'messenger.accessPoint', value: queue.messenger?.options.accessPoint },
    { from: 'submitter.accessPoint', value: queue.submitter?.options.accessPoint },
    { from: 'accessPoint', value: queue.extra.accessPoint },
  ];
}

function isTemplate(value: unknown): value is string {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * The access point template of a queue, as harvester looks for it: the messenger section's accessPoint
 * option, else the submitter section's, else the queue's own accessPoint key, else the default.
 */
export function accessPointSourceOf(queue: QueueConfig): AccessPointSource {
  for (const { from, value } of namedTemplates(queue)) if (isTemplate(value)) return { template: value, from };
  return { template: defaultAccessPointTemplate, from: '(default)' };
}

export function accessPointTemplateOf(queue: QueueConfig): string {
  return accessPointSourceOf(queue).template;
}

/** The section that decides on which side a queue's access points live. */
export interface AccessPointOwner {
  readonly kind: 'messenger' | 'submitter';
  readonly section: PluginSection;
}

/**
 * The messenger when the queue has one (it sets the directories up and writes the payload's files), else the
 * submitter (the payload starts there); undefined for a queue with neither.
 */
export function accessPointOwnerOf(queue: QueueConfig): AccessPointOwner | undefined {
  if (queue.messenger !== undefined) return { kind: 'messenger', section: queue.messenger };
  if (queue.submitter !== undefined) return { kind: 'submitter', section: queue.submitter };
  return undefined;
}

/**
 * The core's half of the rule: the home a relative access point is resolved under when the core records a
 * worker: the core's own home when the owner runs here, undefined (kept relative) when it runs in a bot.
 */
export function accessPointHomeOf(queue: QueueConfig, coreHome: string): string | undefined {
  return accessPointOwnerOf(queue)?.section.middleware === undefined ? coreHome : undefined;
}

/** A worker's access point as the core records it (see the rule at the top of this file). */
export function workerAccessPoint(queue: QueueConfig, workSpec: WorkSpec, coreHome: string): string {
  return expandAccessPoint(accessPointTemplateOf(queue), workSpec, accessPointHomeOf(queue, coreHome));
}

/**
 * The bot's half of the rule: the relative access points of the workers a call carries, resolved under the
 * bot's home. The caller does this before tracking the plugin's changes, so the core keeps its relative value.
 */
export function resolveAccessPointsUnder(home: string, specs: Iterable<unknown>): void {
  for (const spec of specs) {
    if (!(spec instanceof WorkSpec)) continue;
    const accessPoint: unknown = spec.accessPoint;
    if (typeof accessPoint === 'string' && accessPoint !== '' && !isAbsolute(accessPoint)) spec.accessPoint = resolve(home, accessPoint);
  }
}

/**
 * Creates the access point directories (mkdir -p) of workers about to be submitted when nobody else will:
 * the queue has no messenger (whose setupAccessPoints would) and its submitter runs here (a remote
 * submitter's access points are on the remote host). Returns whether it created them.
 */
export async function createLocalAccessPoints(queue: QueueConfig, workSpecs: readonly WorkSpec[]): Promise<boolean> {
  const owner = accessPointOwnerOf(queue);
  if (owner?.kind === 'messenger' || owner?.section.middleware !== undefined) return false;
  for (const workSpec of workSpecs) {
    const accessPoint: unknown = workSpec.accessPoint;
    if (typeof accessPoint !== 'string' || accessPoint === '') {
      throw new AccessPointError('(none)', `worker ${String(workSpec.workerID)} has no access point to create`);
    }
    try {
      await mkdir(accessPoint, { recursive: true });
    } catch (error) {
      throw new AccessPointError(accessPoint, `cannot create it for worker ${String(workSpec.workerID)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return true;
}

/** A `queues check` finding about a queue's access point: the JSON path inside the queue and the message. */
export interface AccessPointWarning {
  readonly path: string;
  readonly message: string;
}

/** The plugin kinds whose calls carry workers (and so their access points). */
const accessPointUserKinds = ['messenger', 'submitter', 'monitor', 'sweeper'] as const;

/** Where calls of a section run: here (the core), or in the bot a middleware element reaches. */
interface Place {
  /** Equal for two places that are the same process's home. */
  readonly key: string;
  readonly bot?: MiddlewareConfig;
}

const here: Place = { key: 'here' };

function placeOfBot(bot: MiddlewareConfig): Place {
  return { key: `${bot.sshUserName}@${bot.remoteHost}:${bot.remotePort}\u0000${bot.botHome}`, bot };
}

interface AccessPointUse {
  readonly kind: (typeof accessPointUserKinds)[number];
  /** The kind, and the bare functions when those are what runs at this place. */
  readonly label: string;
  readonly place: Place;
}

/** The sections that get workers, with where their calls run; a remote section's bare functions run here. */
function accessPointUses(queue: QueueConfig): AccessPointUse[] {
  const uses: AccessPointUse[] = [];
  for (const kind of accessPointUserKinds) {
    const section = queue[kind];
    if (section === undefined) continue;
    const bot = section.middleware === undefined ? undefined : queue.middlewares[section.middleware];
    // A middleware naming no element is a problem the loader reports; nothing to say about directories then.
    if (section.middleware !== undefined && bot === undefined) continue;
    uses.push({ kind, label: kind, place: bot === undefined ? here : placeOfBot(bot) });
    if (bot !== undefined && section.bareFunctions.length > 0) uses.push({ kind, label: `${kind} (bare functions ${section.bareFunctions.join(', ')})`, place: here });
  }
  return uses;
}

/** Where a section at `place` works for a relative template, given where the core resolved it. */
function directoryAt(place: Place, template: string, coreResolved: string | undefined): string {
  if (place.bot === undefined) return coreResolved ?? `${template} (relative to the core's working directory)`;
  const host = `${place.bot.sshUserName}@${place.bot.remoteHost}`;
  if (coreResolved !== undefined) return `${coreResolved} on ${host} (a path of the core's home)`;
  const botHome = posix.isAbsolute(place.bot.botHome) ? place.bot.botHome : `~/${place.bot.botHome}`;
  return `${posix.join(botHome, template)} on ${host} (the bot's home)`;
}

function placeText(place: Place): string {
  return place.bot === undefined ? 'runs here' : `runs in the bot on ${place.bot.sshUserName}@${place.bot.remoteHost}`;
}

/**
 * What `queues check` says about a queue's access point:
 * - a relative template while a section that gets workers runs on another side (or in another bot) than the
 *   owner: by the rule above they would not work in the same directory;
 * - an accessPoint option that is not the one used (the messenger's wins over the submitter's, which wins over
 *   the queue's), e.g. an absolute one in the messenger and a relative one in the submitter.
 * An absolute template on both sides is used as given (a file system both hosts share is the operator's call).
 */
export function accessPointWarnings(queue: QueueConfig, coreHome: string): AccessPointWarning[] {
  const warnings: AccessPointWarning[] = [];
  const source = accessPointSourceOf(queue);
  for (const { from, value } of namedTemplates(queue)) {
    if (from === source.from || !isTemplate(value) || value === source.template) continue;
    warnings.push({
      path: from,
      message: `'${value}' is not used: workers get ${source.from} '${source.template}' (the messenger's accessPoint, else the submitter's, else the queue's)`,
    });
  }
  const owner = accessPointOwnerOf(queue);
  if (owner === undefined || isAbsolute(source.template)) return warnings;
  const uses = accessPointUses(queue);
  const ownerUse = uses.find((u) => u.label === owner.kind);
  if (ownerUse === undefined) return warnings;
  const home = accessPointHomeOf(queue, coreHome);
  const coreResolved = home === undefined ? undefined : resolve(home, source.template);
  const ownerDir = directoryAt(ownerUse.place, source.template, coreResolved);
  for (const use of uses) {
    if (use.place.key === ownerUse.place.key) continue;
    warnings.push({
      path: use.kind,
      message:
        `relative access point '${source.template}' (${source.from === '(default)' ? 'the default' : `from ${source.from}`}) is not one directory for this queue: ` +
        `the ${owner.kind} ${placeText(ownerUse.place)} and uses ${ownerDir}; the ${use.label} ${placeText(use.place)} and uses ` +
        `${directoryAt(use.place, source.template, coreResolved)}. Give an absolute accessPoint that both reach, or run these sections on the same side`,
    });
  }
  return warnings;
}
