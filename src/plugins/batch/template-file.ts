// A batch plugin's template file: read and checked when the plugin is built (so `queues check` and the
// plugin's construction name the file and line of an unknown placeholder before anything is submitted),
// and read again when it changes on disk, as harvester reads it at every submission.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { PluginOptionError } from '../errors.js';
import { parseTemplate, templateProblems, type ParsedTemplate } from './template.js';

export interface TemplateNames {
  readonly known: ReadonlySet<string>;
  /** Why some names have no value in this configuration. */
  readonly unavailable?: Readonly<Record<string, string>>;
}

/** The template cannot be used: unreadable, or with problems ("<file>:<line>: <what>", one per problem). */
export class TemplateFileError extends PluginOptionError {
  constructor(
    plugin: string,
    option: string,
    readonly file: string,
    /** The file could not be read at all (it may exist on another host). */
    readonly unreadable: boolean,
    readonly problems: readonly string[],
  ) {
    super(plugin, option, problems.join('; '));
  }
}

interface Loaded {
  readonly template: ParsedTemplate;
  readonly mtimeMs: number;
  readonly size: number;
}

export class TemplateFile {
  readonly file: string;
  private loaded: Loaded;

  constructor(
    private readonly plugin: string,
    private readonly option: string,
    path: string,
    private readonly names: TemplateNames,
  ) {
    this.file = resolve(path);
    this.loaded = this.load();
  }

  /** The template as the file holds it now; throws TemplateFileError when it changed into something unusable. */
  current(): ParsedTemplate {
    let stats;
    try {
      stats = statSync(this.file);
    } catch (error) {
      throw this.unreadable(error);
    }
    if (stats.mtimeMs !== this.loaded.mtimeMs || stats.size !== this.loaded.size) this.loaded = this.load();
    return this.loaded.template;
  }

  private load(): Loaded {
    let text: string;
    let stats;
    try {
      stats = statSync(this.file);
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      throw this.unreadable(error);
    }
    const template = parseTemplate(text);
    const problems = templateProblems(template, this.names.known, this.names.unavailable);
    if (problems.length > 0) {
      throw new TemplateFileError(this.plugin, this.option, this.file, false, problems.map((p) => `${this.file}:${p.line}: ${p.message}`));
    }
    return { template, mtimeMs: stats.mtimeMs, size: stats.size };
  }

  private unreadable(error: unknown): TemplateFileError {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : error instanceof Error ? error.message : String(error);
    return new TemplateFileError(this.plugin, this.option, this.file, true, [`cannot read template file ${this.file}: ${why}`]);
  }
}
