/**
 * Masks personal data and credentials inside audit metadata before it is hashed and stored:
 * once a value is in the chain it can never be edited without breaking the chain, so it has
 * to be clean on the way in. Keys are kept (they say what was there); values are replaced.
 */

const MASK = '[masked]';

// Keys whose values are secret or personal whatever they look like.
const SENSITIVE_KEY =
  /pass(word)?|secret|token|authorization|cookie|api[-_]?key|credential|e-?mail|phone|mobile|ssn|iban|card/i;

const JWT = /\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
const BEARER = /\b(Bearer|Basic)\s+[\w\-.~+/]+=*/gi;
const EMAIL = /[\w.+-]+@[\w-]+(\.[\w-]+)+/g;
// International or national numbers with at least 7 digits, optionally grouped by spaces, dots or dashes.
const PHONE = /(?<![\w-])\+?\d[\d\s().-]{5,}\d(?![\w-])/g;

function maskEmail(address: string): string {
  const at = address.indexOf('@');
  return `${address[0]}***${address.slice(at)}`;
}

function maskPhone(number: string): string {
  const digits = number.replace(/\D/g, '');
  // Dates and timestamps (2026-12-03, 12:51:28) are not phone numbers.
  if (digits.length < 7 || /^\d{4}-\d{2}-\d{2}/.test(number.trim())) return number;
  return `***${digits.slice(-2)}`;
}

export function maskString(value: string): string {
  return value
    .replace(JWT, MASK)
    .replace(BEARER, (_m, scheme: string) => `${scheme} ${MASK}`)
    .replace(EMAIL, maskEmail)
    .replace(PHONE, maskPhone);
}

export function maskMetadata(value: unknown, key = ''): unknown {
  if (value === null || value === undefined) return value;
  if (key && SENSITIVE_KEY.test(key) && typeof value !== 'object') return MASK;
  if (typeof value === 'string') return maskString(value);
  if (Array.isArray(value)) return value.map((item) => maskMetadata(item, key));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, maskMetadata(v, k)]));
  }
  return value;
}
