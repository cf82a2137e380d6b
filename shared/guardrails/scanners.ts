// Text scanners for the blocklist and PII kinds: each finds spans in a string, on RE2 (linear time,
// so a hostile input cannot make a pattern backtrack for seconds; docs/guardrails.md has the numbers).
import { RE2JS } from 're2js';
import type { GuardrailDefinition } from './definitions.ts';
import { PII_PATTERNS, PII_PRIORITY, type Span } from './pii.ts';

export type { Span } from './pii.ts';

export interface TextScanner {
  /** Longest match this scanner can report: what a stream must hold back to catch a split match. */
  readonly maxMatchChars: number;
  scan(text: string): Span[];
}

interface Rule {
  re: RE2JS;
  label: string;
  check?: (match: string) => boolean;
}

function runRules(rules: Rule[], text: string): Span[] {
  const found: Span[] = [];
  for (const rule of rules) {
    const m = rule.re.matcher(text);
    while (m.find()) {
      const start = m.start();
      const end = m.end();
      if (end === start) continue;
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
    // One alternation for every keyword: one pass over the text however many there are.
    const alternation = def.keywords.map((k) => RE2JS.quote(k)).join('|');
    rules.push({ re: RE2JS.compile(alternation, RE2JS.CASE_INSENSITIVE), label: def.name });
  }
  for (const p of def.patterns) rules.push({ re: RE2JS.compile(p), label: def.name });
  const longestKeyword = Math.max(0, ...def.keywords.map((k) => k.length));
  return {
    maxMatchChars: def.patterns.length > 0 ? Math.max(longestKeyword, def.max_match_chars) : longestKeyword,
    scan: (text) => runRules(rules, text),
  };
}

export function piiScanner(def: Extract<GuardrailDefinition, { kind: 'pii' }>): TextScanner {
  const rules: Rule[] = [];
  for (const entity of PII_PRIORITY) {
    if (!def.entities.includes(entity)) continue;
    const { pattern, check } = PII_PATTERNS[entity];
    rules.push({ re: RE2JS.compile(pattern), label: entity, ...(check ? { check } : {}) });
  }
  for (const [label, pattern] of Object.entries(def.patterns)) rules.push({ re: RE2JS.compile(pattern), label });
  return { maxMatchChars: def.max_match_chars, scan: (text) => runRules(rules, text) };
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
