import type { ImportAST, Literal, Loc, ModuleAST, RuleAST, RuleElse, Term, With } from './ast.js';
import { RegoParseError } from './errors.js';
import { type Token, tokenize } from './lexer.js';
import { decimalOf, type Num, normInt, RDecimal } from './value.js';

const KEYWORDS = new Set([
  'package',
  'import',
  'as',
  'default',
  'if',
  'contains',
  'else',
  'some',
  'every',
  'in',
  'not',
  'with',
]);

/** Binary operators by precedence level (OPA: in < relation < | < & < + - < * / %). */
const BINARY: Record<string, { prec: number; fn: string }> = {
  in: { prec: 1, fn: 'internal.member_2' },
  '==': { prec: 2, fn: 'equal' },
  '!=': { prec: 2, fn: 'neq' },
  '<': { prec: 2, fn: 'lt' },
  '<=': { prec: 2, fn: 'lte' },
  '>': { prec: 2, fn: 'gt' },
  '>=': { prec: 2, fn: 'gte' },
  '|': { prec: 3, fn: 'or' },
  '&': { prec: 4, fn: 'and' },
  '+': { prec: 5, fn: 'plus' },
  '-': { prec: 5, fn: 'minus' },
  '*': { prec: 6, fn: 'mul' },
  '/': { prec: 6, fn: 'div' },
  '%': { prec: 6, fn: 'rem' },
};

/** Comprehension and collection elements are parsed above `|` so that `[x | body]` is unambiguous. */
const ELEMENT_PREC = 4;

/** Beyond this exponent an integer literal is kept as a decimal rather than expanded to a bigint. */
const MAX_INT_EXP = 1000;

/**
 * Integers stay exact (`1e30` is an integer too, so it becomes a bigint rather than a rounded float);
 * other literals are floats unless float64 would change the number they denote (`1e-400`,
 * `0.1234567890123456789`), which are kept as exact decimals, as OPA keeps number text.
 */
export function parseNumber(text: string): Num {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : normInt(BigInt(text));
  }
  const n = Number(text);
  const d = decimalOf(text);
  if (d === undefined) return n;
  if (d.exp >= 0 && d.exp <= MAX_INT_EXP) return normInt(d.coef * 10n ** BigInt(d.exp));
  const shortest = Number.isFinite(n) ? decimalOf(String(n)) : undefined;
  if (shortest !== undefined && shortest.coef === d.coef && shortest.exp === d.exp) return n;
  return new RDecimal(d.coef, d.exp, n, text);
}

export function negateNumber(v: Num): Num {
  if (typeof v === 'bigint') return normInt(-v);
  if (v instanceof RDecimal) {
    return new RDecimal(-v.coef, v.exp, -v.approx, v.text.startsWith('-') ? v.text.slice(1) : `-${v.text}`);
  }
  return v === 0 ? 0 : -v;
}

class Parser {
  private pos = 0;
  /** Inside (), [] or {} newlines do not end a literal. */
  private depth = 0;

  constructor(
    private readonly toks: Token[],
    private readonly file: string,
  ) {}

  private get tok(): Token {
    return this.toks[this.pos]!;
  }

  private peek(n = 1): Token {
    return this.toks[Math.min(this.pos + n, this.toks.length - 1)]!;
  }

  private loc(t: Token = this.tok): Loc {
    return { file: this.file, line: t.line, col: t.col };
  }

  private fail(msg: string, t: Token = this.tok): never {
    throw new RegoParseError(msg, `${this.file}:${t.line}:${t.col}`);
  }

  private isPunct(text: string, t: Token = this.tok): boolean {
    return t.kind === 'punct' && t.text === text;
  }

  private isIdent(text: string, t: Token = this.tok): boolean {
    return t.kind === 'ident' && t.text === text;
  }

  private expectPunct(text: string): Token {
    const t = this.tok;
    if (!this.isPunct(text)) this.fail(`unexpected ${this.describe(t)} token: expected ${text}`);
    this.pos++;
    return t;
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'eof';
    if (t.kind === 'string') return 'string';
    if (t.kind === 'number') return 'number';
    if (t.kind === 'ident') return KEYWORDS.has(t.text) ? t.text : 'ident';
    return t.text;
  }

  /** True when the current token may continue the expression being parsed (no newline at depth 0). */
  private cont(): boolean {
    return this.depth > 0 || !this.tok.nl;
  }

  parseModule(): ModuleAST {
    if (!this.isIdent('package')) this.fail('package expected');
    const pkgTok = this.tok;
    this.pos++;
    const pkgRef = this.parseRefOnly();
    const pkg = refToPath(pkgRef, (m) => this.fail(m, pkgTok));
    const imports: ImportAST[] = [];
    while (this.isIdent('import')) {
      const t = this.tok;
      this.pos++;
      const path = this.parseRefOnly();
      let alias: string | undefined;
      if (this.isIdent('as') && !this.tok.nl) {
        this.pos++;
        if (this.tok.kind !== 'ident') this.fail('expected alias name');
        alias = this.tok.text;
        this.pos++;
      }
      imports.push({ path, alias, loc: this.loc(t) });
    }
    const rules: RuleAST[] = [];
    while (this.tok.kind !== 'eof') {
      if (this.isIdent('import')) this.fail('imports must appear before rules');
      if (this.isIdent('package')) this.fail('unexpected package keyword');
      rules.push(this.parseRule());
    }
    return { file: this.file, pkg, pkgLoc: this.loc(pkgTok), imports, rules };
  }

  /** A plain dotted/bracketed reference (package paths, import paths, rule heads). */
  private parseRefOnly(): Term {
    const t = this.tok;
    if (t.kind !== 'ident' || KEYWORDS.has(t.text))
      this.fail(`unexpected ${this.describe(t)} token: expected ref`);
    this.pos++;
    const head: Term = { type: 'var', name: t.text, loc: this.loc(t) };
    const path: Term[] = [];
    for (;;) {
      if (this.isPunct('.') && this.tok.adjacent) {
        this.pos++;
        const n = this.tok;
        if (n.kind !== 'ident' || !n.adjacent) this.fail('expected name after .');
        this.pos++;
        path.push({ type: 'scalar', value: n.text, loc: this.loc(n) });
      } else if (this.isPunct('[') && this.tok.adjacent) {
        this.pos++;
        this.depth++;
        path.push(this.parseInfix(1));
        this.depth--;
        this.expectPunct(']');
      } else break;
    }
    return path.length === 0 ? head : { type: 'ref', head, path, loc: head.loc };
  }

  private parseRule(): RuleAST {
    const start = this.tok;
    let isDefault = false;
    if (this.isIdent('default')) {
      isDefault = true;
      this.pos++;
    }
    if (this.tok.kind !== 'ident' || KEYWORDS.has(this.tok.text)) {
      this.fail(`unexpected ${this.describe(this.tok)} token`);
    }
    const refTerm = this.parseRefOnly();
    const ref: Term[] = refTerm.type === 'ref' ? [refTerm.head, ...refTerm.path] : [refTerm];
    let args: Term[] | undefined;
    if (this.isPunct('(') && this.tok.adjacent) {
      this.pos++;
      this.depth++;
      args = [];
      while (!this.isPunct(')')) {
        args.push(this.parseInfix(1));
        if (!this.isPunct(',')) break;
        this.pos++;
      }
      this.depth--;
      this.expectPunct(')');
    }
    let kind: RuleAST['kind'] = 'value';
    let value: Term | undefined;
    if (this.isIdent('contains') && !this.tok.nl) {
      this.pos++;
      kind = 'contains';
      value = this.parseInfix(1);
    } else if ((this.isPunct(':=') || this.isPunct('=')) && !this.tok.nl) {
      this.pos++;
      value = this.parseInfix(1);
    }
    const rule: RuleAST = { loc: this.loc(start), isDefault, ref, args, kind, value, body: [], elses: [] };
    if (isDefault) {
      if (value === undefined) this.fail('default rules must have a value', start);
      return rule;
    }
    rule.body = this.parseRuleBody(start);
    while (this.isIdent('else')) {
      const et = this.tok;
      this.pos++;
      let ev: Term | undefined;
      if ((this.isPunct(':=') || this.isPunct('=')) && !this.tok.nl) {
        this.pos++;
        ev = this.parseInfix(1);
      }
      const els: RuleElse = { value: ev, body: this.parseRuleBody(et), loc: this.loc(et) };
      rule.elses.push(els);
    }
    return rule;
  }

  /** `if { ... }`, `if literal`, `{ ... }` or nothing (a constant rule). */
  private parseRuleBody(start: Token): Literal[] {
    if (this.isIdent('if') && !this.tok.nl) {
      this.pos++;
      if (this.isPunct('{')) {
        const save = this.pos;
        try {
          return this.parseBlock();
        } catch (e) {
          // `p if {"a": 1}[x]` style: not a block after all, parse one literal.
          this.pos = save;
          try {
            return [this.parseLiteral()];
          } catch {
            throw e;
          }
        }
      }
      return [this.parseLiteral()];
    }
    if (this.isPunct('{') && !this.tok.nl) return this.parseBlock();
    void start;
    return [];
  }

  private parseBlock(): Literal[] {
    this.expectPunct('{');
    const saveDepth = this.depth;
    this.depth = 0;
    const body = this.parseLiterals('}');
    this.depth = saveDepth;
    this.expectPunct('}');
    return body;
  }

  /** Literals separated by `;` or newlines, up to the closing token (`}` or eof). */
  parseLiterals(close: '}' | 'eof'): Literal[] {
    const body: Literal[] = [];
    const atEnd = () => (close === 'eof' ? this.tok.kind === 'eof' : this.isPunct('}'));
    while (!atEnd()) {
      body.push(this.parseLiteral());
      if (this.isPunct(';')) {
        this.pos++;
        continue;
      }
      if (atEnd()) break;
      if (!this.tok.nl) this.fail(`unexpected ${this.describe(this.tok)} token`);
    }
    return body;
  }

  private parseLiteral(): Literal {
    const start = this.tok;
    const loc = this.loc(start);
    let negated = false;
    let lit: Literal;
    if (this.isIdent('some')) {
      this.pos++;
      const terms: Term[] = [this.parseInfix(2)];
      while (this.isPunct(',')) {
        this.pos++;
        terms.push(this.parseInfix(2));
      }
      if (this.isIdent('in') && this.cont()) {
        this.pos++;
        if (terms.length > 2) this.fail('unexpected , in some declaration');
        const domain = this.parseInfix(2);
        const [a, b] = terms;
        lit = {
          expr: { type: 'somein', key: b ? a : undefined, value: (b ?? a)!, domain },
          negated,
          withs: [],
          loc,
        };
      } else {
        for (const t of terms) if (t.type !== 'var') this.fail('expected var in some declaration', start);
        lit = { expr: { type: 'some', vars: terms }, negated, withs: [], loc };
      }
    } else if (this.isIdent('every')) {
      this.pos++;
      const first = this.parseVar();
      let key: Term | undefined;
      let value = first;
      if (this.isPunct(',')) {
        this.pos++;
        key = first;
        value = this.parseVar();
      }
      if (!this.isIdent('in')) this.fail('expected in after every variables');
      this.pos++;
      const domain = this.parseInfix(2);
      const body = this.parseBlock();
      lit = { expr: { type: 'every', key, value, domain, body }, negated, withs: [], loc };
    } else {
      if (this.isIdent('not')) {
        this.pos++;
        negated = true;
        if (this.isPunct('{')) {
          const save = this.pos;
          try {
            const body = this.parseBlock();
            lit = { expr: { type: 'body', body }, negated, withs: this.parseWiths(), loc };
            return lit;
          } catch {
            this.pos = save;
          }
        }
      }
      let lhs = this.parseInfix(1);
      if (this.isPunct(',') && this.depth === 0) {
        // `k, v in xs` as an expression
        this.pos++;
        const v = this.parseInfix(2);
        if (!this.isIdent('in')) this.fail('unexpected , token');
        const inTok = this.tok;
        this.pos++;
        const domain = this.parseInfix(2);
        lhs = {
          type: 'call',
          fn: { type: 'var', name: 'internal.member_3', loc: this.loc(inTok) },
          args: [lhs, v, domain],
          loc: lhs.loc,
        };
      }
      if ((this.isPunct('=') || this.isPunct(':=')) && this.cont()) {
        const assign = this.tok.text === ':=';
        this.pos++;
        const rhs = this.parseInfix(1);
        lit = { expr: { type: 'unify', lhs, rhs, assign }, negated, withs: [], loc };
      } else {
        lit = { expr: { type: 'term', term: lhs }, negated, withs: [], loc };
      }
    }
    lit.withs = this.parseWiths();
    return lit;
  }

  private parseWiths(): With[] {
    const withs: With[] = [];
    while (this.isIdent('with')) {
      const t = this.tok;
      this.pos++;
      const target = this.parseInfix(ELEMENT_PREC + 1);
      if (!this.isIdent('as')) this.fail('expected as in with modifier');
      this.pos++;
      const value = this.parseInfix(2);
      withs.push({ target, value, loc: this.loc(t) });
    }
    return withs;
  }

  private parseVar(): Term {
    const t = this.tok;
    if (t.kind !== 'ident' || KEYWORDS.has(t.text)) this.fail('expected variable');
    this.pos++;
    return { type: 'var', name: t.text, loc: this.loc(t) };
  }

  /** Precedence climbing over Rego's infix operators. */
  parseInfix(minPrec: number, lhsIn?: Term): Term {
    let lhs = lhsIn ?? this.parseUnary();
    for (;;) {
      const t = this.tok;
      if (!this.cont()) break;
      const key = t.kind === 'punct' || (t.kind === 'ident' && t.text === 'in') ? t.text : undefined;
      const op = key !== undefined ? BINARY[key] : undefined;
      if (op === undefined || op.prec < minPrec) break;
      this.pos++;
      const rhs = this.parseInfix(op.prec + 1);
      lhs = {
        type: 'call',
        fn: { type: 'var', name: op.fn, loc: this.loc(t) },
        args: [lhs, rhs],
        loc: lhs.loc,
      };
    }
    return lhs;
  }

  private parseUnary(): Term {
    if (this.isPunct('-')) {
      const t = this.tok;
      this.pos++;
      if (this.tok.kind === 'number' && this.tok.adjacent) {
        const n = this.tok;
        this.pos++;
        const v = parseNumber(n.text);
        const neg = negateNumber(v);
        return this.parsePostfix({ type: 'scalar', value: neg, loc: this.loc(t) });
      }
      const operand = this.parseUnary();
      return {
        type: 'call',
        fn: { type: 'var', name: 'minus', loc: this.loc(t) },
        args: [{ type: 'scalar', value: 0, loc: this.loc(t) }, operand],
        loc: this.loc(t),
      };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Term {
    const t = this.tok;
    const loc = this.loc(t);
    switch (t.kind) {
      case 'number':
        this.pos++;
        return { type: 'scalar', value: parseNumber(t.text), loc };
      case 'string':
        this.pos++;
        return { type: 'scalar', value: t.text, loc };
      case 'ident': {
        if (t.text === 'true' || t.text === 'false') {
          this.pos++;
          return { type: 'scalar', value: t.text === 'true', loc };
        }
        if (t.text === 'null') {
          this.pos++;
          return { type: 'scalar', value: null, loc };
        }
        // `contains` is also a built-in: `contains(s, "x")` stays a call.
        const isCall = this.isPunct('(', this.peek()) && this.peek().adjacent;
        if (KEYWORDS.has(t.text) && !(t.text === 'contains' && isCall))
          this.fail(`unexpected ${t.text} keyword`);
        this.pos++;
        if (t.text === 'set' && this.isPunct('(') && this.tok.adjacent && this.isPunct(')', this.peek())) {
          this.pos += 2;
          return this.parsePostfix({ type: 'set', items: [], loc });
        }
        return this.parsePostfix({ type: 'var', name: t.text, loc });
      }
      case 'punct':
        if (t.text === '[') return this.parsePostfix(this.parseArray());
        if (t.text === '{') return this.parsePostfix(this.parseBrace());
        if (t.text === '(') {
          this.pos++;
          this.depth++;
          let inner = this.parseInfix(1);
          if (this.isPunct(',')) {
            // `(k, v in xs)`
            this.pos++;
            const v = this.parseInfix(2);
            if (!this.isIdent('in')) this.fail('unexpected , token: expected in');
            const inTok = this.tok;
            this.pos++;
            const domain = this.parseInfix(2);
            inner = {
              type: 'call',
              fn: { type: 'var', name: 'internal.member_3', loc: this.loc(inTok) },
              args: [inner, v, domain],
              loc: inner.loc,
            };
          }
          this.depth--;
          this.expectPunct(')');
          return this.parsePostfix(inner);
        }
        break;
      default:
        break;
    }
    return this.fail(`unexpected ${this.describe(t)} token`);
  }

  private parsePostfix(term: Term): Term {
    let cur = term;
    for (;;) {
      if (this.isPunct('.') && this.tok.adjacent && this.peek().kind === 'ident' && this.peek().adjacent) {
        this.pos++;
        const n = this.tok;
        this.pos++;
        cur = appendRef(cur, { type: 'scalar', value: n.text, loc: this.loc(n) });
      } else if (this.isPunct('[') && this.tok.adjacent) {
        this.pos++;
        this.depth++;
        const idx = this.parseInfix(1);
        this.depth--;
        this.expectPunct(']');
        cur = appendRef(cur, idx);
      } else if (this.isPunct('(') && this.tok.adjacent && isCallable(cur)) {
        const open = this.tok;
        this.pos++;
        this.depth++;
        const args: Term[] = [];
        while (!this.isPunct(')')) {
          args.push(this.parseInfix(1));
          if (!this.isPunct(',')) break;
          this.pos++;
        }
        this.depth--;
        this.expectPunct(')');
        cur = { type: 'call', fn: cur, args, loc: cur.loc.line ? cur.loc : this.loc(open) };
      } else break;
    }
    return cur;
  }

  private parseArray(): Term {
    const open = this.expectPunct('[');
    const loc = this.loc(open);
    this.depth++;
    const items: Term[] = [];
    if (!this.isPunct(']')) {
      const first = this.parseInfix(ELEMENT_PREC);
      if (this.isPunct('|')) {
        this.pos++;
        const body = this.parseComprBody(']');
        this.depth--;
        return { type: 'arraycompr', head: first, body, loc };
      }
      items.push(this.parseInfix(1, first));
      while (this.isPunct(',')) {
        this.pos++;
        if (this.isPunct(']')) break;
        items.push(this.parseInfix(1));
      }
    }
    this.depth--;
    this.expectPunct(']');
    return { type: 'array', items, loc };
  }

  private parseComprBody(close: ']' | '}'): Literal[] {
    const saveDepth = this.depth;
    this.depth = 0;
    const body: Literal[] = [];
    while (!this.isPunct(close)) {
      body.push(this.parseLiteral());
      if (this.isPunct(';')) {
        this.pos++;
        continue;
      }
      if (this.isPunct(close)) break;
      if (!this.tok.nl) this.fail(`unexpected ${this.describe(this.tok)} token`);
    }
    this.depth = saveDepth;
    this.expectPunct(close);
    if (body.length === 0) this.fail('empty comprehension body');
    return body;
  }

  private parseBrace(): Term {
    const open = this.expectPunct('{');
    const loc = this.loc(open);
    this.depth++;
    if (this.isPunct('}')) {
      this.pos++;
      this.depth--;
      return { type: 'object', entries: [], loc };
    }
    const first = this.parseInfix(ELEMENT_PREC);
    if (this.isPunct(':')) {
      this.pos++;
      const v = this.parseInfix(ELEMENT_PREC);
      if (this.isPunct('|')) {
        this.pos++;
        const body = this.parseComprBody('}');
        this.depth--;
        return { type: 'objectcompr', key: first, value: v, body, loc };
      }
      const entries: [Term, Term][] = [[first, this.parseInfix(1, v)]];
      while (this.isPunct(',')) {
        this.pos++;
        if (this.isPunct('}')) break;
        const k = this.parseInfix(1);
        this.expectPunct(':');
        entries.push([k, this.parseInfix(1)]);
      }
      this.depth--;
      this.expectPunct('}');
      return { type: 'object', entries, loc };
    }
    if (this.isPunct('|')) {
      this.pos++;
      const body = this.parseComprBody('}');
      this.depth--;
      return { type: 'setcompr', head: first, body, loc };
    }
    const items: Term[] = [this.parseInfix(1, first)];
    while (this.isPunct(',')) {
      this.pos++;
      if (this.isPunct('}')) break;
      items.push(this.parseInfix(1));
    }
    this.depth--;
    this.expectPunct('}');
    return { type: 'set', items, loc };
  }
}

function isCallable(t: Term): boolean {
  if (t.type === 'var') return true;
  if (t.type === 'ref')
    return t.head.type === 'var' && t.path.every((p) => p.type === 'scalar' && typeof p.value === 'string');
  return false;
}

function appendRef(t: Term, op: Term): Term {
  if (t.type === 'ref') return { type: 'ref', head: t.head, path: [...t.path, op], loc: t.loc };
  return { type: 'ref', head: t, path: [op], loc: t.loc };
}

function refToPath(t: Term, fail: (m: string) => never): string[] {
  if (t.type === 'var') return [t.name];
  if (t.type !== 'ref' || t.head.type !== 'var') return fail('invalid package path');
  const out = [t.head.name];
  for (const p of t.path) {
    if (p.type !== 'scalar' || typeof p.value !== 'string') return fail('invalid package path');
    out.push(p.value);
  }
  return out;
}

export function parseModule(source: string, file: string): ModuleAST {
  const p = new Parser(tokenize(source, file), file);
  return p.parseModule();
}

export function parseQuery(source: string, file = 'query'): Literal[] {
  const p = new Parser(tokenize(source, file), file);
  const body = p.parseLiterals('eof');
  if (body.length === 0) throw new RegoParseError('empty query', `${file}:1:1`);
  return body;
}

/** A single term, e.g. an `input_term` of a conformance case. */
export function parseTerm(source: string, file = 'term'): Term {
  const p = new Parser(tokenize(source, file), file);
  const body = p.parseLiterals('eof');
  const first = body[0];
  if (body.length !== 1 || !first || first.expr.type !== 'term') {
    throw new RegoParseError('expected a single term', `${file}:1:1`);
  }
  return first.expr.term;
}
