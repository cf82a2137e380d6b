// Built-in PII detectors. Patterns find candidates (RE2, linear time); checksums (Luhn for cards,
// mod-97 for IBANs) drop look-alikes such as order numbers, so masking does not eat ordinary digits.
import type { PiiEntity } from './definitions.ts';

export interface Span {
  start: number;
  end: number;
  /** What was found: `email`, `credit_card`, an operator label, or a blocklist's name. */
  label: string;
}

/** Luhn (mod 10) over the digits of `s`; separators ignored. */
export function luhnValid(s: string): boolean {
  const digits = s.replace(/[^0-9]/g, '');
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616 IBAN check: country + check digits moved to the end, letters as 10..35, mod 97 == 1. */
export function ibanValid(s: string): boolean {
  const iban = s.replace(/[\s-]/g, '').toUpperCase();
  if (!/^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const v = ch >= 'A' ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    // Letters are two digits: fold them in one at a time so the remainder stays small.
    rem = v > 9 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

/**
 * Sources per entity (run on V8's RegExp: every quantified group consumes a fixed separator or one
 * character, so no input makes them backtrack more than linearly), and the check a candidate must pass.
 */
export const PII_PATTERNS: Record<PiiEntity, { pattern: string; check?: (match: string) => boolean }> = {
  email: { pattern: String.raw`[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}` },
  // 13-19 digits in groups separated by single spaces or dashes; Luhn decides.
  credit_card: { pattern: String.raw`\b[0-9](?:[ -]?[0-9]){12,18}\b`, check: luhnValid },
  iban: { pattern: String.raw`\b[A-Z]{2}[0-9]{2}(?:[ ]?[A-Z0-9]){11,30}\b`, check: ibanValid },
  // International (+CC) or grouped national numbers with at least 8 digits.
  phone: {
    pattern: String.raw`(?:\+[1-9][0-9]{0,2}[ .-]?)?(?:\([0-9]{1,4}\)[ .-]?)?[0-9]{2,4}(?:[ .-][0-9]{2,4}){2,4}|\+[1-9][0-9]{7,14}`,
    check: (m) => m.replace(/[^0-9]/g, '').length >= 8,
  },
  // Provider and cloud credentials by their published prefixes.
  secret: {
    pattern: String.raw`\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abpr]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|glpat-[A-Za-z0-9_-]{20,})`,
  },
};

/** Order matters where patterns overlap: a card number is not reported as a phone number. */
export const PII_PRIORITY: PiiEntity[] = ['secret', 'email', 'iban', 'credit_card', 'phone'];
