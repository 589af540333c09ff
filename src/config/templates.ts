// harvester's queue templates (queue_config_mapper.py), followed exactly:
// - an entry is a template when "isTemplateQueue" is true or its name ends in "_TEMPLATE";
// - a queue's "templateQueueName" must name a template; the queue is a deep copy of the template updated
//   with the queue's keys: plugin sections (and "common") are merged key by key, one level deep, every other
//   key (including a middleware element such as "rpc") is replaced whole by the queue's value;
// - templates do not chain: harvester drops "templateQueueName" from a template. We keep that rule and warn,
//   naming the chain the operator may have meant, since it has no effect.
import { isPlainObject, type ProblemCollector } from './report.js';

export const TEMPLATE_NAME_SUFFIX = '_TEMPLATE';

/** Keys merged key by key over the template's (harvester's updatable_plugin_attrs). */
export const mergedSectionKeys: ReadonlySet<string> = new Set([
  'common',
  'messenger',
  'monitor',
  'preparator',
  'stager',
  'submitter',
  'sweeper',
  'workerMaker',
  'throttler',
  'zipper',
  'aux_preparator',
  'extractor',
]);

export interface ResolvedEntries {
  /** Queues (not templates) with their template applied, in file order. Absent when the queue is unusable. */
  readonly queues: ReadonlyMap<string, Record<string, unknown>>;
  readonly templateNames: readonly string[];
}

function isTemplate(name: string, entry: Record<string, unknown>): boolean {
  return entry.isTemplateQueue === true || name.endsWith(TEMPLATE_NAME_SUFFIX);
}

function applyTemplate(template: Record<string, unknown>, queue: Record<string, unknown>): Record<string, unknown> {
  const merged = structuredClone(template);
  for (const [key, value] of Object.entries(queue)) {
    const base = merged[key];
    if (mergedSectionKeys.has(key) && isPlainObject(base) && isPlainObject(value)) {
      merged[key] = { ...base, ...structuredClone(value) };
    } else {
      merged[key] = structuredClone(value);
    }
  }
  return merged;
}

/** "A -> B -> C", stopping at a missing link or at the first name seen twice (a cycle). */
function templateChain(start: string, entries: Readonly<Record<string, unknown>>): string {
  const chain = [start];
  let current: unknown = entries[start];
  while (isPlainObject(current) && typeof current.templateQueueName === 'string') {
    const next = current.templateQueueName;
    chain.push(next);
    if (chain.indexOf(next) !== chain.length - 1) break;
    current = entries[next];
  }
  return chain.join(' -> ');
}

/**
 * Splits the top level of a queue configuration into templates and queues and applies each queue's
 * template. Entries that are not objects, bad template references and bad isTemplateQueue values are
 * reported; the affected queue is left out, the others go on.
 */
export function resolveTemplates(entries: Readonly<Record<string, unknown>>, collector: ProblemCollector): ResolvedEntries {
  const templates = new Map<string, Record<string, unknown>>();
  const plain = new Map<string, Record<string, unknown>>();
  for (const [name, entry] of Object.entries(entries)) {
    const report = collector.forQueue(name);
    if (!isPlainObject(entry)) {
      report.problem('', `a queue must be an object, got ${entry === null ? 'null' : Array.isArray(entry) ? 'an array' : typeof entry}`);
      continue;
    }
    if (name.trim() === '') {
      report.problem('', 'a queue name must not be empty');
      continue;
    }
    if ('isTemplateQueue' in entry && typeof entry.isTemplateQueue !== 'boolean') {
      report.problem('isTemplateQueue', 'must be true or false');
      continue;
    }
    if (isTemplate(name, entry)) {
      if (entry.templateQueueName !== undefined) {
        report.warning(
          'templateQueueName',
          `ignored: templates do not chain in harvester (${templateChain(name, entries)}); ` +
            `copy what '${name}' needs from '${String(entry.templateQueueName)}' into it`,
        );
      }
      const { templateQueueName: _dropped, ...template } = entry;
      templates.set(name, template);
    } else {
      plain.set(name, entry);
    }
  }

  const queues = new Map<string, Record<string, unknown>>();
  for (const [name, entry] of plain) {
    const report = collector.forQueue(name);
    const templateName = entry.templateQueueName;
    if (templateName === undefined || templateName === null) {
      queues.set(name, structuredClone(entry));
      continue;
    }
    if (typeof templateName !== 'string') {
      report.problem('templateQueueName', `must be the name of a template, got ${typeof templateName}`);
      continue;
    }
    const template = templates.get(templateName);
    if (template !== undefined) {
      queues.set(name, applyTemplate(template, entry));
      continue;
    }
    report.problem('templateQueueName', missingTemplateMessage(name, templateName, entries, [...templates.keys()]));
  }
  return { queues, templateNames: [...templates.keys()] };
}

function missingTemplateMessage(
  queue: string,
  templateName: string,
  entries: Readonly<Record<string, unknown>>,
  templateNames: readonly string[],
): string {
  if (templateName === queue) return `queue '${queue}' names itself as its template (${queue} -> ${queue})`;
  if (templateName in entries) {
    return (
      `'${templateName}' is a queue, not a template (${templateChain(queue, entries)}): mark it ` +
      `"isTemplateQueue": true or rename it to end in ${TEMPLATE_NAME_SUFFIX}`
    );
  }
  const known = templateNames.length > 0 ? templateNames.join(', ') : 'none';
  return `no template '${templateName}' in this file (${queue} -> ${templateName}; templates: ${known})`;
}
