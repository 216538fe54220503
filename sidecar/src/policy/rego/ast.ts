/** Parsed Rego, before name resolution. Every node carries its source location. */
import type { RDecimal } from './value.js';

export interface Loc {
  file: string;
  line: number;
  col: number;
}

export type Scalar = null | boolean | number | bigint | string | RDecimal;

export type Term =
  | { type: 'scalar'; value: Scalar; loc: Loc }
  | { type: 'var'; name: string; loc: Loc }
  | { type: 'ref'; head: Term; path: Term[]; loc: Loc }
  | { type: 'array'; items: Term[]; loc: Loc }
  | { type: 'set'; items: Term[]; loc: Loc }
  | { type: 'object'; entries: [Term, Term][]; loc: Loc }
  | { type: 'arraycompr'; head: Term; body: Literal[]; loc: Loc }
  | { type: 'setcompr'; head: Term; body: Literal[]; loc: Loc }
  | { type: 'objectcompr'; key: Term; value: Term; body: Literal[]; loc: Loc }
  /** `fn` is a var or ref naming the function; operators are calls of their built-in (`plus`, `equal`, ...). */
  | { type: 'call'; fn: Term; args: Term[]; loc: Loc };

export interface With {
  target: Term;
  value: Term;
  loc: Loc;
}

export type Expr =
  | { type: 'term'; term: Term }
  | { type: 'unify'; lhs: Term; rhs: Term; assign: boolean }
  | { type: 'some'; vars: Term[] }
  | { type: 'somein'; key: Term | undefined; value: Term; domain: Term }
  | { type: 'every'; key: Term | undefined; value: Term; domain: Term; body: Literal[] }
  /** `not { a; b }` (rego.v2 / future.keywords.not) */
  | { type: 'body'; body: Literal[] };

export interface Literal {
  expr: Expr;
  negated: boolean;
  withs: With[];
  loc: Loc;
}

export interface RuleElse {
  value: Term | undefined;
  body: Literal[];
  loc: Loc;
}

export interface RuleAST {
  loc: Loc;
  isDefault: boolean;
  /** Head reference: first element is the rule name (a var), then further terms. */
  ref: Term[];
  args: Term[] | undefined;
  /** `contains` rules build sets; everything else is a value rule. */
  kind: 'value' | 'contains';
  /** Value for value rules (`true` when omitted); element for contains rules. */
  value: Term | undefined;
  body: Literal[];
  elses: RuleElse[];
}

export interface ImportAST {
  path: Term;
  alias: string | undefined;
  loc: Loc;
}

export interface ModuleAST {
  file: string;
  pkg: string[];
  pkgLoc: Loc;
  imports: ImportAST[];
  rules: RuleAST[];
}

export function locString(loc: Loc): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}
