import { RegoParseError } from './errors.js';

export type TokenKind = 'ident' | 'string' | 'number' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Identifier name, punctuation text, number text, or the decoded string value. */
  text: string;
  line: number;
  col: number;
  /** A newline separates this token from the previous one: Rego ends a body literal there. */
  nl: boolean;
  /** No whitespace before this token: `a[x]` is a ref, `a [x]` is not. */
  adjacent: boolean;
  raw?: boolean;
}

const PUNCT2 = new Set([':=', '==', '!=', '<=', '>=']);
const PUNCT1 = new Set([
  '{',
  '}',
  '[',
  ']',
  '(',
  ')',
  '.',
  ',',
  ';',
  ':',
  '=',
  '<',
  '>',
  '+',
  '-',
  '*',
  '/',
  '%',
  '&',
  '|',
]);

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isIdentPart(c: number): boolean {
  return isIdentStart(c) || (c >= 48 && c <= 57);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function tokenize(src: string, file: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let nl = false;
  let adjacent = false;
  const err = (msg: string, l = line, c = i - lineStart + 1): never => {
    throw new RegoParseError(msg, `${file}:${l}:${c}`);
  };
  while (i < src.length) {
    const c = src.charCodeAt(i);
    if (c === 10) {
      i++;
      line++;
      lineStart = i;
      nl = true;
      adjacent = false;
      continue;
    }
    if (c === 32 || c === 9 || c === 13) {
      i++;
      adjacent = false;
      continue;
    }
    if (c === 35) {
      while (i < src.length && src.charCodeAt(i) !== 10) i++;
      adjacent = false;
      continue;
    }
    const tl = line;
    const tc = i - lineStart + 1;
    const push = (kind: TokenKind, text: string, raw?: boolean) => {
      tokens.push({ kind, text, line: tl, col: tc, nl, adjacent, ...(raw ? { raw } : {}) });
      nl = false;
      adjacent = true;
    };
    if (isIdentStart(c)) {
      const s = i;
      while (i < src.length && isIdentPart(src.charCodeAt(i))) i++;
      push('ident', src.slice(s, i));
      continue;
    }
    if (isDigit(c)) {
      const s = i;
      while (i < src.length && isDigit(src.charCodeAt(i))) i++;
      if (src[i] === '.' && isDigit(src.charCodeAt(i + 1))) {
        i++;
        while (i < src.length && isDigit(src.charCodeAt(i))) i++;
      }
      if (src[i] === 'e' || src[i] === 'E') {
        let j = i + 1;
        if (src[j] === '+' || src[j] === '-') j++;
        if (isDigit(src.charCodeAt(j))) {
          i = j;
          while (i < src.length && isDigit(src.charCodeAt(i))) i++;
        }
      }
      if (i < src.length && isIdentStart(src.charCodeAt(i))) err('illegal number format', tl, tc);
      push('number', src.slice(s, i));
      continue;
    }
    if (c === 34) {
      i++;
      let out = '';
      for (;;) {
        if (i >= src.length || src.charCodeAt(i) === 10) err('non-terminated string', tl, tc);
        const ch = src[i]!;
        if (ch === '"') {
          i++;
          break;
        }
        if (ch === '\\') {
          const e = src[i + 1];
          i += 2;
          switch (e) {
            case '"':
              out += '"';
              break;
            case '\\':
              out += '\\';
              break;
            case '/':
              out += '/';
              break;
            case 'b':
              out += '\b';
              break;
            case 'f':
              out += '\f';
              break;
            case 'n':
              out += '\n';
              break;
            case 'r':
              out += '\r';
              break;
            case 't':
              out += '\t';
              break;
            case 'u': {
              const hex = src.slice(i, i + 4);
              if (!/^[0-9a-fA-F]{4}$/.test(hex)) err('illegal unicode escape', tl, tc);
              out += String.fromCharCode(Number.parseInt(hex, 16));
              i += 4;
              break;
            }
            default:
              err(`illegal escape sequence \\${e ?? ''}`, tl, tc);
          }
          continue;
        }
        out += ch;
        i++;
      }
      push('string', out);
      continue;
    }
    if (c === 96) {
      const end = src.indexOf('`', i + 1);
      if (end < 0) err('non-terminated raw string', tl, tc);
      const text = src.slice(i + 1, end);
      for (let j = i; j < end; j++) {
        if (src.charCodeAt(j) === 10) {
          line++;
          lineStart = j + 1;
        }
      }
      i = end + 1;
      push('string', text, true);
      continue;
    }
    const two = src.slice(i, i + 2);
    if (PUNCT2.has(two)) {
      i += 2;
      push('punct', two);
      continue;
    }
    const one = src[i]!;
    if (PUNCT1.has(one)) {
      i++;
      push('punct', one);
      continue;
    }
    err(`illegal token ${JSON.stringify(one)}`, tl, tc);
  }
  tokens.push({ kind: 'eof', text: '', line, col: i - lineStart + 1, nl, adjacent: false });
  return tokens;
}
