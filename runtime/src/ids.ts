import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * Time-sortable random ids (`per_0j5...`): 10 characters of millisecond time then 16 of
 * randomness, Crockford base32 in lower case. Sorting ids sorts by creation time, which
 * is what cursor pagination in the document port relies on.
 */
export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (const byte of bytes) rand += ALPHABET[byte % 32];
  return `${prefix}_${time}${rand}`;
}

export function isId(value: string, prefix: string): boolean {
  return new RegExp(`^${prefix}_[${ALPHABET}]{26}$`).test(value);
}
