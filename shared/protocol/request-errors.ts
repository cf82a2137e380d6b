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

/**
 * The types the branches of a failed union expected, when every branch refused the value for its
 * type (`stop: 5` -> string or array); empty when some branch took the type but not the value.
 */
function unionExpectations(issue: z.core.$ZodIssue): string[] {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [];
  const out: string[] = [];
  for (const branch of issue.errors) {
    const root = branch.find((sub) => sub.path.length === 0);
    if (root?.code !== 'invalid_type') return [];
    if (!out.includes(root.expected)) out.push(root.expected);
  }
  return out;
}

const JSON_KINDS = new Set(['string', 'number', 'boolean', 'array', 'object', 'null']);

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * The ApiError for the first issue of a failed parse of `body`. `paramPrefix` names where the body
 * sits in a larger message (`body.` for batch lines and WebSocket frames).
 */
export function requestIssueError(issue: z.core.$ZodIssue, body: unknown, paramPrefix = ''): ApiError {
  let param = paramPrefix + zodIssueToParam(issue);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    param = issue.path.length ? `${param}.${key}` : paramPrefix + key;
    return new ApiError(400, `Unrecognized request argument supplied: '${param}'.`, { param, code: 'unknown_parameter' });
  }
  const { found, value } = valueAt(body, issue.path);
  if (!found && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) {
    return new ApiError(400, `Missing required parameter: '${param}'.`, { param, code: 'missing_required_parameter' });
  }
  const expected = issue.code === 'invalid_type' ? [issue.expected] : unionExpectations(issue);
  if (expected.length > 0) {
    const given = `expected ${expected.map(expectedName).join(' or ')}, but got ${describeValue(value)}.`;
    // A JSON value of another kind is a wrong type; a number that is no integer, or a string a
    // coercing schema could not read (zod then reports `received`), is a wrong value.
    const wrongKind = !('received' in issue) && expected.every((t) => JSON_KINDS.has(t) && t !== jsonKind(value));
    return wrongKind
      ? new ApiError(400, `Invalid type for '${param}': ${given}`, { param, code: 'invalid_type' })
      : errors.invalidField(param, given);
  }
  return errors.invalidField(param, `${issue.message}; got ${describeValue(value)}.`);
}

/**
 * The one way a request body (or a part of one) is checked against its schema: the data, or the first
 * zod issue as a 400 naming the field (`paramPrefix` for bodies nested in a frame, e.g. `body.`).
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, paramPrefix = ''): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw requestIssueError(parsed.error.issues[0]!, input, paramPrefix);
}
