// The 400 for a request body that fails its zod schema: names the field the way OpenAI does and says
// what was expected and what was given. zod 4 leaves the offending value out of its issues, so the
// value is looked up in the body along the issue's path; only an absent value is "missing".
import type { z } from 'zod';
import { ApiError, errors } from './errors.ts';
import { zodIssueToParam } from './openai.ts';

const ARTICLE: Record<string, string> = { array: 'an array', object: 'an object', int: 'an integer', null: 'null', undefined: 'nothing' };

function expectedName(type: string): string {
  return ARTICLE[type] ?? `a ${type}`;
}

/** `a string ("hot")`, `a number (5)`, `an object`, `null`: short, and safe to echo. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
  return `${expectedName(typeof value)} (${String(value)})`;
}

function valueAt(body: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let cur: unknown = body;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return { found: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return { found: cur !== undefined, value: cur };
}

/** The types the branches of a failed union expected at the union's own level, e.g. `string`, `array`. */
function unionExpectations(issue: z.core.$ZodIssue): string[] {
  if (issue.code !== 'invalid_union') return [];
  const out: string[] = [];
  for (const branch of issue.errors) {
    for (const sub of branch)
      if (sub.code === 'invalid_type' && sub.path.length === 0 && !out.includes(sub.expected)) out.push(sub.expected);
  }
  return out;
}

/**
 * The ApiError for the first issue of a failed parse of `body`. `paramPrefix` names where the body
 * sits in a larger message (`body.` for batch lines and WebSocket frames).
 */
export function requestIssueError(issue: z.core.$ZodIssue, body: unknown, paramPrefix = ''): ApiError {
  const param = paramPrefix + zodIssueToParam(issue);
  const { found, value } = valueAt(body, issue.path);
  if (!found && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
    return new ApiError(400, `Missing required parameter: '${param}'.`, { param, code: 'missing_required_parameter' });
  }
  const expected = issue.code === 'invalid_type' ? [issue.expected] : unionExpectations(issue);
  if (expected.length > 0) {
    return new ApiError(
      400,
      `Invalid type for '${param}': expected ${expected.map(expectedName).join(' or ')}, but got ${describeValue(value)}.`,
      { param, code: 'invalid_type' },
    );
  }
  return errors.invalidField(param, `${issue.message}; got ${describeValue(value)}.`);
}
