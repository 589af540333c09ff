// Batch script templates with harvester's placeholders: `{name}` is replaced by the value of `name`, `{{` and
// `}}` are literal braces (Python's str.format, which harvester's submitters use). Harvester leaves an
// unknown `{name}` as it is (format_map with a SafeDict), so a typo reaches the batch system, or the job,
// unnoticed; we refuse it when the template is read, naming the file and the line.
// One more difference, to keep shell syntax working: `${NAME}` (and `${NAME:-x}`, `${#a[@]}`, ...) is shell
// parameter expansion and stays as written; harvester would substitute a known NAME after the `$`, which is
// nearly always a mistake, so `${name}` of a known placeholder is refused too (write `{name}` for the
// value, `${{name}}` for the shell variable).
import { closest } from '../edit-distance.js';

export interface TemplateProblem {
  readonly line: number;
  readonly message: string;
}

type Segment =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'placeholder'; readonly name: string; readonly line: number }
  | { readonly kind: 'shell'; readonly text: string; readonly name: string; readonly line: number };

export interface ParsedTemplate {
  readonly segments: readonly Segment[];
  /** Syntax problems (lone braces, format specs): the template cannot be used. */
  readonly problems: readonly TemplateProblem[];
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Index of the `}` closing the `{` at `open`, counting nested braces (shell expansions nest), or -1. */
function closingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

function fieldProblem(field: string): string {
  const name = field.split(/[:!.[]/)[0] ?? '';
  if (identifier.test(name) && name !== field) {
    return `'{${field}}': format specifications, conversions, attributes and indexes are not supported; write {${name}}`;
  }
  return `'{${field}}' is not a placeholder name: write {{ and }} for literal braces`;
}

export function parseTemplate(text: string): ParsedTemplate {
  const segments: Segment[] = [];
  const problems: TemplateProblem[] = [];
  let literal = '';
  let line = 1;
  const flush = (): void => {
    if (literal !== '') segments.push({ kind: 'text', text: literal });
    literal = '';
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const next = text[i + 1];
    if ((c === '{' && next === '{') || (c === '}' && next === '}')) {
      literal += c;
      i += 2;
    } else if (c === '$' && next === '{' && text[i + 2] !== '{') {
      const end = closingBrace(text, i + 1);
      const shell = end === -1 ? text.slice(i) : text.slice(i, end + 1);
      const name = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(shell)?.[1] ?? '';
      flush();
      segments.push({ kind: 'shell', text: shell, name, line });
      if (end === -1) problems.push({ line, message: `'\${' with no closing '}'` });
      line += shell.split('\n').length - 1;
      i += shell.length;
    } else if (c === '{') {
      const end = text.indexOf('}', i);
      const field = end === -1 ? text.slice(i + 1) : text.slice(i + 1, end);
      if (end !== -1 && identifier.test(field)) {
        flush();
        segments.push({ kind: 'placeholder', name: field, line });
        i = end + 1;
      } else if (end !== -1 && !field.includes('\n')) {
        // One problem for the whole field (its '}' is not reported again as a lone brace).
        problems.push({ line, message: fieldProblem(field) });
        literal += text.slice(i, end + 1);
        i = end + 1;
      } else {
        problems.push({ line, message: "a '{' with no '}' on its line: write {{ for a literal brace" });
        literal += c;
        i++;
      }
    } else if (c === '}') {
      problems.push({ line, message: "a lone '}': write }} for a literal brace" });
      literal += c;
      i++;
    } else {
      if (c === '\n') line++;
      literal += c;
      i++;
    }
  }
  flush();
  return { segments, problems };
}

/**
 * Problems of a parsed template given the names that have values: its syntax problems and every unknown
 * placeholder (with the closest known names). `unavailable` explains names that exist but have no value in
 * this configuration (e.g. {logDir} without the logDir option).
 */
export function templateProblems(
  template: ParsedTemplate,
  known: ReadonlySet<string>,
  unavailable: Readonly<Record<string, string>> = {},
): TemplateProblem[] {
  const problems = [...template.problems];
  for (const segment of template.segments) {
    if (segment.kind === 'placeholder' && !known.has(segment.name)) {
      const why = unavailable[segment.name];
      if (why !== undefined) {
        problems.push({ line: segment.line, message: `placeholder {${segment.name}} has no value: ${why}` });
        continue;
      }
      const near = closest(segment.name, known);
      problems.push({
        line: segment.line,
        message: `unknown placeholder {${segment.name}}${near.length > 0 ? ` (did you mean ${near.map((n) => `{${n}}`).join(' or ')}?)` : ''}; write {{ and }} for literal braces`,
      });
    } else if (segment.kind === 'shell' && known.has(segment.name)) {
      problems.push({
        line: segment.line,
        message: `'\${${segment.name}}' is ambiguous: write {${segment.name}} for the placeholder's value, or \${{${segment.name}}} for the shell variable`,
      });
    }
  }
  return problems.sort((a, b) => a.line - b.line);
}

export type TemplateValue = string | number | null | undefined;

/** The template with its placeholders replaced; a null or undefined value is written as nothing. */
export function renderTemplate(template: ParsedTemplate, values: Readonly<Record<string, TemplateValue>>): string {
  let out = '';
  for (const segment of template.segments) {
    if (segment.kind === 'placeholder') out += String(values[segment.name] ?? '');
    else out += segment.text;
  }
  return out;
}

/** Whether the template uses a placeholder (e.g. {payloadScript}, whose file is only written when used). */
export function usesPlaceholder(template: ParsedTemplate, name: string): boolean {
  return template.segments.some((s) => s.kind === 'placeholder' && s.name === name);
}
