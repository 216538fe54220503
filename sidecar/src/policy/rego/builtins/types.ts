import { BuiltinError } from '../errors.js';
import { isNumber, numValue, RObject, RSet, typeName, type Value } from '../value.js';

/** Per-query facts built-ins may need (OPA keeps `time.now_ns` stable within one query). */
export interface BuiltinContext {
  nowNs: () => bigint;
  /** Per-evaluation memo for built-ins that must answer the same within one query (rand, uuid). */
  memo: Map<string, Value>;
}

export interface BuiltinDef {
  name: string;
  /** Number of operands; -1 for variadic (`print`). */
  arity: number;
  fn: (args: Value[], ctx: BuiltinContext) => Value | undefined;
  /** Relations return every output (`walk`); `fn` then returns an array of outputs. */
  relation?: boolean;
}

export type BuiltinTable = Record<string, BuiltinDef>;

export function def(name: string, arity: number, fn: BuiltinDef['fn']): BuiltinDef {
  return { name, arity, fn };
}

/** Operand type error with OPA's wording: `operand 1 must be string but got number`. */
export function typeErr(pos: number, want: string, got: Value): never {
  throw new BuiltinError(`operand ${pos} must be ${want} but got ${typeName(got)}`, 'type');
}

export function str(args: Value[], i: number): string {
  const v = args[i]!;
  if (typeof v !== 'string') typeErr(i + 1, 'string', v);
  return v;
}

export function num(args: Value[], i: number): number | bigint {
  const v = args[i]!;
  if (!isNumber(v)) typeErr(i + 1, 'number', v);
  return numValue(v);
}

/** A number that must be an integer; returned as JS number (callers use it as a count or index). */
export function int(args: Value[], i: number): number {
  const v = num(args, i);
  if (typeof v === 'bigint') return Number(v);
  if (!Number.isInteger(v))
    throw new BuiltinError(`operand ${i + 1} must be integer number but got floating-point number`, 'type');
  return v;
}

export function arr(args: Value[], i: number): Value[] {
  const v = args[i]!;
  if (!Array.isArray(v)) typeErr(i + 1, 'array', v);
  return v;
}

export function obj(args: Value[], i: number): RObject {
  const v = args[i]!;
  if (!(v instanceof RObject)) typeErr(i + 1, 'object', v);
  return v;
}

export function set(args: Value[], i: number): RSet {
  const v = args[i]!;
  if (!(v instanceof RSet)) typeErr(i + 1, 'set', v);
  return v;
}

export function bool(args: Value[], i: number): boolean {
  const v = args[i]!;
  if (typeof v !== 'boolean') typeErr(i + 1, 'boolean', v);
  return v;
}

/** Elements of an array or set (many built-ins accept either). */
export function collection(args: Value[], i: number, want = 'one of {array, set}'): Value[] {
  const v = args[i]!;
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.sorted();
  return typeErr(i + 1, want, v);
}

export function builtinErr(message: string): never {
  throw new BuiltinError(message, 'builtin');
}
