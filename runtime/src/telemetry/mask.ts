import type { Attributes, AttributeValue } from '@opentelemetry/api';

/**
 * What must not leave the process in telemetry: personal data (emails, phone numbers) and
 * credentials (JWTs, bearer/basic credentials, the platform's prefixed secrets and other
 * long random-looking strings). Traces go to third-party collectors with wide read access,
 * so masking happens before export, not in the collector.
 */
// Every pattern is anchored or bounded so that masking stays linear in the input: span
// attributes can carry caller-chosen text (an operation name), and masking must not be a
// way to burn CPU. Longer values are cut to MAX_LENGTH first for the same reason.
const MAX_LENGTH = 4096;
const EMAIL = /[\w.+%-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}/g;
const JWT = /(?<![\w-])eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g;
const CREDENTIAL = /\b(Bearer|Basic)\s+[\w\-.~+/=]+/gi;
/** Client secrets, admin tokens and refresh tokens carry these prefixes (see control-plane). */
const PREFIXED_SECRET = /\bcp[asr]_[\w-]{16,}/g;
/**
 * Authorization codes and foreign API keys have no prefix: 32+ URL-safe characters with upper
 * case, lower case and digits. Ids (lower-case base32) and hashes (lower-case hex) do not match.
 */
const OPAQUE_SECRET = /(?<![\w-])(?=[\w-]*[A-Z])(?=[\w-]*[a-z])(?=[\w-]*\d)[\w-]{32,}(?![\w-])/g;
/**
 * 7 to 15 digits (E.164), optionally after `+`, grouped by single spaces, hyphens or
 * parentheses. Not next to letters, colons, hyphens or a dot-and-digit, so UUID groups, IP
 * addresses, decimals, versions and times are left alone; ISO dates are excluded explicitly.
 */
const PHONE = /(?<![\w.:/+-])(?!\d{4}-\d{2}-\d{2}(?!\d))\+?\(?\d(?:[ ()-]{0,2}\d){6,14}(?![\w:/-]|\.\d)/g;
/** Attribute keys whose values are credentials whatever they look like. */
const SENSITIVE_KEY = /pass(word)?|secret|token|authorization|cookie|api[-_]?key|private|signature/i;

function digits(value: string): number {
  let count = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) count++;
  }
  return count;
}

/**
 * Values already seen to contain nothing to mask. Span names, routes, RPC names and tenant
 * ids repeat on every request, so most lookups end here; only clean values are kept, so
 * the set never holds personal data. Cleared when full rather than tracked LRU: cheaper,
 * and a miss only costs one masking pass.
 */
const clean = new Set<string>();
const CLEAN_MAX = 1024;

/**
 * Each pattern runs only when a cheap test says it could match: this runs for every
 * attribute of every exported span.
 */
export function maskText(text: string): string {
  if (clean.has(text)) return text;
  let value = text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}[truncated]` : text;
  if (/bearer|basic/i.test(value)) value = value.replace(CREDENTIAL, '$1 [redacted]');
  if (value.includes('eyJ')) value = value.replace(JWT, '[jwt]');
  if (value.includes('cp')) value = value.replace(PREFIXED_SECRET, '[secret]');
  if (value.includes('@')) value = value.replace(EMAIL, '[email]');
  if (value.length >= 32) value = value.replace(OPAQUE_SECRET, '[secret]');
  if (digits(value) >= 7) {
    value = value.replace(PHONE, (match) => {
      const count = digits(match);
      return count >= 7 && count <= 15 ? '[phone]' : match;
    });
  }
  if (value === text && text.length <= 256) {
    if (clean.size >= CLEAN_MAX) clean.clear();
    clean.add(text);
  }
  return value;
}

function maskValue(value: AttributeValue): AttributeValue {
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) {
    return value.map((v) => (typeof v === 'string' ? maskText(v) : v)) as AttributeValue;
  }
  return value;
}

/** A masked copy: keys are kept (they are ours), values are masked or, under a credential key, dropped. */
export function maskAttributes(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined) continue;
    out[key] = SENSITIVE_KEY.test(key) ? '[redacted]' : maskValue(value);
  }
  return out;
}
