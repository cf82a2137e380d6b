// Text scanners for the blocklist and PII kinds: each finds spans in a string, on RE2 (linear time,
// so a hostile input cannot make a pattern backtrack for seconds; docs/guardrails.md has the numbers).
import { re2js } from './re2.ts';
import type { GuardrailDefinition } from './definitions.ts';
import { PII_PATTERNS, PII_PRIORITY, type Span } from './pii.ts';

export type { Span } from './pii.ts';

export interface TextScanner {
  /** Longest match this scanner can report: what a stream must hold back to catch a split match. */
  readonly maxMatchChars: number;
  scan(text: string): Span[];
  /** Characters at the end of `text` a later match could still start in; default `maxMatchChars`. */
  holdFor?(text: string): number;
}

/**
 * One pattern to find. Two engines: V8's RegExp for what Switchyard writes itself (escaped keyword
 * literals, the built-in PII patterns, reviewed to have no nested unbounded quantifiers), and RE2
 * (re2js, linear time whatever the input) for operator regexes. re2js locating matches is slow
 * (~1 ms per KB, see docs/guardrails.md), so it first answers "any match?" (its DFA, ~10x faster)
 * and only then finds where.
 */
interface Rule {
  label: string;
  find(text: string): Array<[number, number]>;
  check?: (match: string) => boolean;
}

function nativeRule(label: string, source: string, flags: string, check?: (m: string) => boolean): Rule {
  const re = new RegExp(source, `${flags}g`);
  return {
    label,
    ...(check ? { check } : {}),
    find(text) {
      const out: Array<[number, number]> = [];
      re.lastIndex = 0;
      for (let m = re.exec(text); m; m = re.exec(text)) {
        if (m[0].length === 0) re.lastIndex++;
        else out.push([m.index, m.index + m[0].length]);
      }
      return out;
    },
  };
}

function re2Rule(label: string, pattern: string): Rule {
  const re = re2js().RE2JS.compile(pattern);
  return {
    label,
    find(text) {
      if (!re.test(text)) return [];
      const out: Array<[number, number]> = [];
      const m = re.matcher(text);
      while (m.find()) if (m.end() > m.start()) out.push([m.start(), m.end()]);
      return out;
    },
  };
}

function runRules(rules: Rule[], text: string): Span[] {
  const found: Span[] = [];
  for (const rule of rules) {
    for (const [start, end] of rule.find(text)) {
      if (rule.check && !rule.check(text.slice(start, end))) continue;
      found.push({ start, end, label: rule.label });
    }
  }
  return nonOverlapping(found);
}

/** Earlier rules win an overlap (the list is in priority order), then leftmost. */
function nonOverlapping(spans: Span[]): Span[] {
  const kept: Span[] = [];
  for (const s of spans) if (!kept.some((k) => s.start < k.end && k.start < s.end)) kept.push(s);
  return kept.sort((a, b) => a.start - b.start);
}

export function blocklistScanner(def: Extract<GuardrailDefinition, { kind: 'blocklist' }>): TextScanner {
  const rules: Rule[] = [];
  if (def.keywords.length > 0) {
    // One alternation of escaped literals: no quantifier, so nothing to backtrack into.
    const alternation = def.keywords.map(escapeLiteral).join('|');
    rules.push(nativeRule(def.name, alternation, 'i'));
  }
  for (const p of def.patterns) rules.push(re2Rule(def.name, p));
  const longestKeyword = Math.max(0, ...def.keywords.map((k) => k.length));
  if (def.patterns.length > 0)
    return { maxMatchChars: Math.max(longestKeyword, def.max_match_chars), scan: (text) => runRules(rules, text) };
  // Keywords only: a later match can start only where the text ends in the beginning of a keyword, so
  // the stream holds back just that (usually nothing) instead of a keyword's length.
  const lowered = def.keywords.map((k) => k.toLowerCase());
  return {
    maxMatchChars: longestKeyword,
    scan: (text) => runRules(rules, text),
    holdFor: (text) => keywordPrefixAtEnd(text.slice(-longestKeyword).toLowerCase(), lowered),
  };
}

export function piiScanner(def: Extract<GuardrailDefinition, { kind: 'pii' }>): TextScanner {
  const rules: Rule[] = [];
  for (const entity of PII_PRIORITY) {
    if (!def.entities.includes(entity)) continue;
    const { pattern, check } = PII_PATTERNS[entity];
    rules.push(nativeRule(entity, pattern, '', check));
  }
  for (const [label, pattern] of Object.entries(def.patterns)) rules.push(re2Rule(label, pattern));
  return { maxMatchChars: def.max_match_chars, scan: (text) => runRules(rules, text) };
}

/** Length of the longest end of `tail` that is a proper beginning of one of `keywords` (lowercase). */
export function keywordPrefixAtEnd(tail: string, keywords: string[]): number {
  let best = 0;
  for (const k of keywords) {
    for (let n = Math.min(k.length - 1, tail.length); n > best; n--) {
      if (tail.endsWith(k.slice(0, n))) {
        best = n;
        break;
      }
    }
  }
  return best;
}

function escapeLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `text` with every span replaced by `[LABEL]`. */
export function maskSpans(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += text.slice(at, s.start) + maskFor(s.label);
    at = s.end;
  }
  return out + text.slice(at);
}

export function maskFor(label: string): string {
  return `[${label.toUpperCase()}]`;
}
