/** regex.* (Go RE2 syntax translated to JS where they differ) and glob.* built-ins. */
import type { Value } from '../value.js';
import { type BuiltinTable, builtinErr, collection, def, int, str, typeErr } from './types.js';

const regexCache = new Map<string, RegExp>();

/** Translates the RE2 constructs JS lacks: leading `(?flags)`, `(?P<name>`, `\z`, `\A`, POSIX classes. */
export function compileRegex(pattern: string, global = false): RegExp {
  const cacheKey = `${global ? 'g' : ''}:${pattern}`;
  const hit = regexCache.get(cacheKey);
  if (hit) return hit;
  let src = pattern;
  let flags = global ? 'g' : '';
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    src = src.slice(m[0].length);
    for (const f of m[1]!) if (f !== 'U' && !flags.includes(f)) flags += f;
  }
  src = src
    .replace(/\(\?P</g, '(?<')
    .replace(/\\z/g, '$(?![\\s\\S])')
    .replace(/\\A/g, '^')
    .replace(/\[:alpha:\]/g, 'A-Za-z')
    .replace(/\[:digit:\]/g, '0-9')
    .replace(/\[:alnum:\]/g, 'A-Za-z0-9')
    .replace(/\[:space:\]/g, '\\s')
    .replace(/\[:upper:\]/g, 'A-Z')
    .replace(/\[:lower:\]/g, 'a-z')
    .replace(/\[:punct:\]/g, '!-\\/:-@\\[-`{-~')
    .replace(/\[:xdigit:\]/g, '0-9A-Fa-f');
  let re: RegExp;
  try {
    re = new RegExp(src, `${flags}u`);
  } catch {
    try {
      re = new RegExp(src, flags);
    } catch (e) {
      return builtinErr(`error parsing regexp: ${(e as Error).message}`);
    }
  }
  if (regexCache.size > 1000) regexCache.clear();
  regexCache.set(cacheKey, re);
  return re;
}

function findAll(re: RegExp, s: string, n: number): RegExpExecArray[] {
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  const out: RegExpExecArray[] = [];
  let m: RegExpExecArray | null = g.exec(s);
  while (m !== null && (n < 0 || out.length < n)) {
    out.push(m);
    if (m[0] === '') g.lastIndex++;
    m = g.exec(s);
  }
  return out;
}

// ---- glob (gobwas/glob semantics, which OPA uses) ---------------------------------------------

const globCache = new Map<string, RegExp>();

function escapeRe(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

function globToRegex(pattern: string, delims: string[]): RegExp {
  const key = `${JSON.stringify(delims)}\u0000${pattern}`;
  const hit = globCache.get(key);
  if (hit) return hit;
  const notDelim = delims.length === 0 ? '[\\s\\S]' : `[^${delims.map(escapeRe).join('')}]`;
  let i = 0;
  const parse = (inAlt: boolean): string => {
    let out = '';
    while (i < pattern.length) {
      const c = pattern[i]!;
      if (inAlt && (c === ',' || c === '}')) return out;
      i++;
      switch (c) {
        case '\\':
          if (i >= pattern.length) builtinErr('unexpected end of input');
          out += escapeRe(pattern[i++]!);
          break;
        case '*':
          if (pattern[i] === '*') {
            i++;
            out += '[\\s\\S]*';
          } else out += `${notDelim}*`;
          break;
        case '?':
          out += notDelim;
          break;
        case '[': {
          let neg = false;
          if (pattern[i] === '!' || pattern[i] === '^') {
            neg = true;
            i++;
          }
          let cls = '';
          let closed = false;
          while (i < pattern.length) {
            const d = pattern[i++]!;
            if (d === ']') {
              closed = true;
              break;
            }
            if (d === '\\' && i < pattern.length) cls += escapeRe(pattern[i++]!);
            else if (d === '-') cls += '-';
            else cls += escapeRe(d);
          }
          if (!closed) builtinErr('unexpected end of input');
          out += neg ? `[^${cls}]` : `[${cls}]`;
          break;
        }
        case '{': {
          const alts: string[] = [];
          for (;;) {
            alts.push(parse(true));
            if (i >= pattern.length) builtinErr('unexpected end of input');
            const d = pattern[i++];
            if (d === '}') break;
          }
          out += `(?:${alts.join('|')})`;
          break;
        }
        default:
          out += escapeRe(c);
      }
    }
    if (inAlt) builtinErr('unexpected end of input');
    return out;
  };
  const re = new RegExp(`^${parse(false)}$`, 'u');
  if (globCache.size > 1000) globCache.clear();
  globCache.set(key, re);
  return re;
}

export const patternBuiltins: BuiltinTable = {
  'regex.match': def('regex.match', 2, (a) => compileRegex(str(a, 0)).test(str(a, 1))),
  re_match: def('re_match', 2, (a) => compileRegex(str(a, 0)).test(str(a, 1))),
  'regex.is_valid': def('regex.is_valid', 1, (a) => {
    if (typeof a[0] !== 'string') return false;
    try {
      compileRegex(a[0]);
      return true;
    } catch {
      return false;
    }
  }),
  'regex.split': def('regex.split', 2, (a) => {
    const re = compileRegex(str(a, 0));
    const s = str(a, 1);
    const out: Value[] = [];
    let last = 0;
    for (const m of findAll(re, s, -1)) {
      if (m[0] === '' && (m.index === 0 || m.index === s.length)) continue;
      out.push(s.slice(last, m.index));
      last = m.index + m[0].length;
    }
    out.push(s.slice(last));
    return out;
  }),
  'regex.find_n': def('regex.find_n', 3, (a) => {
    const re = compileRegex(str(a, 0));
    return findAll(re, str(a, 1), int(a, 2)).map((m) => m[0]);
  }),
  'regex.find_all_string_submatch_n': def('regex.find_all_string_submatch_n', 3, (a) => {
    const re = compileRegex(str(a, 0));
    return findAll(re, str(a, 1), int(a, 2)).map((m) => [...m].map((x) => x ?? ''));
  }),
  'regex.replace': def('regex.replace', 3, (a) => {
    const s = str(a, 0);
    const re = compileRegex(str(a, 1), true);
    // Go's $1 / ${name} expansion maps onto JS replacement patterns.
    const repl = str(a, 2).replace(/\$\{(\w+)\}/g, (_m, n: string) =>
      /^\d+$/.test(n) ? `$${n}` : `$<${n}>`,
    );
    return s.replace(re, repl);
  }),
  'regex.template_match': def('regex.template_match', 4, (a) => {
    const tpl = str(a, 0);
    const s = str(a, 1);
    const open = str(a, 2);
    const close = str(a, 3);
    let src = '';
    let i = 0;
    while (i < tpl.length) {
      const o = tpl.indexOf(open, i);
      if (o < 0) {
        src += escapeRe(tpl.slice(i));
        break;
      }
      const c = tpl.indexOf(close, o + open.length);
      if (c < 0) builtinErr('unbalanced delimiters');
      src += `${escapeRe(tpl.slice(i, o))}(?:${tpl.slice(o + open.length, c)})`;
      i = c + close.length;
    }
    return new RegExp(`^${src}$`).test(s);
  }),
  'glob.match': def('glob.match', 3, (a) => {
    const pattern = str(a, 0);
    let delims: string[];
    if (a[1] === null) delims = [];
    else {
      const ds = collection(a, 1, 'array');
      delims = ds.map((d) => (typeof d === 'string' ? d : typeErr(2, 'array of strings', a[1]!)));
      if (delims.length === 0) delims = ['.'];
    }
    return globToRegex(pattern, delims).test(str(a, 2));
  }),
  'glob.quote_meta': def('glob.quote_meta', 1, (a) => str(a, 0).replace(/[*?\\[\]{}]/g, '\\$&')),
};
