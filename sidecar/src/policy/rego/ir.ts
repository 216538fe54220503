/**
 * The compiled form the evaluator runs: names resolved, variables turned into frame slots, bodies
 * reordered for safety, constant composites folded. Produced once by the compiler.
 */
import type { BuiltinDef } from './builtins/types.js';
import type { Value } from './value.js';

export type IT =
  | { t: 'const'; v: Value }
  | { t: 'var'; slot: number; name: string }
  | { t: 'ref'; head: IRefHead; ops: IT[]; loc: string }
  | { t: 'array'; items: IT[] }
  | { t: 'set'; items: IT[] }
  | { t: 'object'; entries: [IT, IT][] }
  | { t: 'compr'; kind: 'array' | 'set'; head: IT; body: IExpr[] }
  | { t: 'ocompr'; key: IT; value: IT; body: IExpr[] }
  /** `order`: argument evaluation order, refs before plain vars (a ref may bind a var argument). */
  | { t: 'call'; fn: FnTarget; args: IT[]; loc: string; order?: number[] };

export type IRefHead = { h: 'data' } | { h: 'input' } | { h: 'term'; term: IT };

export type FnTarget =
  | { f: 'builtin'; name: string; def: BuiltinDef }
  | { f: 'user'; name: string; path: string[]; node: RuleNode };

export interface IWith {
  kind: 'input' | 'data' | 'builtin' | 'func';
  /** Path below `input`/`data`; for builtins and functions the mock key. */
  path: string[];
  key: string;
  node: RuleNode | undefined;
  value: IT;
  /** When the replacement names a function (`with f as g`), the function to call instead. */
  replacement: FnTarget | undefined;
}

export type IExprKind =
  | { e: 'term'; term: IT }
  /** A call in expression position with an extra output operand: `count(xs, n)`. */
  | { e: 'callout'; call: IT & { t: 'call' }; out: IT }
  | { e: 'unify'; a: IT; b: IT }
  | { e: 'somein'; key: IT | undefined; value: IT; domain: IT }
  | { e: 'every'; key: IT | undefined; value: IT; domain: IT; body: IExpr[] }
  | { e: 'body'; body: IExpr[] }
  | { e: 'true' };

export type IExpr = IExprKind & { negated: boolean; withs: IWith[]; loc: string };

export interface CRule {
  loc: string;
  node: RuleNode;
  kind: 'value' | 'contains';
  /** Head terms after the node's static path: `p[k] := v` has one (k). */
  keys: IT[];
  value: IT;
  args: IT[] | undefined;
  body: IExpr[];
  elses: { value: IT; body: IExpr[] }[];
  nslots: number;
  isDefault: boolean;
  /** Complete rule whose value is a constant: evaluation may stop at the first solution. */
  constValue: boolean;
}

export interface RuleNode {
  path: string[];
  /** `data.a.b`, for messages. */
  name: string;
  children: Map<string, RuleNode>;
  /** Complete rules (no key terms); default excluded. */
  complete: CRule[];
  /** Rules with key terms, and `contains` rules. */
  partial: CRule[];
  funcs: CRule[];
  defaultRule: CRule | undefined;
  arity: number | undefined;
  /** Rules at this node or below. */
  hasRules: boolean;
  /** Index in the compiler's node list (for dependency checks). */
  id: number;
}
