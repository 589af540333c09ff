// zod validates at the edge; its issues become ConfigProblems with a JSON path and a message in our words.
import type { z } from 'zod';
import { describeValue, type QueueReporter } from './report.js';

function issueMessage(issue: z.core.$ZodIssue): string {
  const hasInput = 'input' in issue;
  const input: unknown = hasInput ? (issue as { input?: unknown }).input : undefined;
  switch (issue.code) {
    case 'invalid_type': {
      if (!hasInput || input === undefined) return 'required';
      const expected = issue.expected === 'int' ? 'an integer' : issue.expected;
      return `expected ${expected}, got ${describeValue(input)}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describeValue(input)}`;
    case 'too_small':
      return `must be ${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}, got ${describeValue(input)}`;
    case 'too_big':
      return `must be ${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}, got ${describeValue(input)}`;
    default:
      return issue.message;
  }
}

/** Parses `value` with `schema`, reporting every issue under `prefix`; undefined when there were any. */
export function parseReported<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: readonly PropertyKey[],
  report: QueueReporter,
): z.output<S> | undefined {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  for (const issue of result.error.issues) report.problem([...prefix, ...issue.path], issueMessage(issue));
  return undefined;
}
