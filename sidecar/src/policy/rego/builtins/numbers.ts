import { BuiltinError } from '../errors.js';
import { normInt, RSet, type Value } from '../value.js';
import { type BuiltinTable, builtinErr, def, int, num, set, str, typeErr } from './types.js';

type Num = number | bigint;

/** Exact integer view of a number, or undefined for non-integers. */
export function intOf(n: Num): bigint | undefined {
  if (typeof n === 'bigint') return n;
  return Number.isInteger(n) ? BigInt(n) : undefined;
}

export function isInt(n: Num): boolean {
  return typeof n === 'bigint' || Number.isInteger(n);
}

/** Integers stay exact past 2^53 (OPA uses arbitrary precision); floats use float64. */
function arith(
  a: Num,
  b: Num,
  fop: (x: number, y: number) => number,
  iop: (x: bigint, y: bigint) => bigint,
): Num {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = fop(a, b);
    if (Number.isSafeInteger(r) || !Number.isInteger(a) || !Number.isInteger(b)) return r;
  }
  const x = intOf(a);
  const y = intOf(b);
  if (x !== undefined && y !== undefined) return normInt(iop(x, y));
  return fop(Number(a), Number(b));
}

export function add(a: Num, b: Num): Num {
  return arith(
    a,
    b,
    (x, y) => x + y,
    (x, y) => x + y,
  );
}
export function sub(a: Num, b: Num): Num {
  return arith(
    a,
    b,
    (x, y) => x - y,
    (x, y) => x - y,
  );
}
export function mul(a: Num, b: Num): Num {
  return arith(
    a,
    b,
    (x, y) => x * y,
    (x, y) => x * y,
  );
}

export function div(a: Num, b: Num): Num {
  if (Number(b) === 0 && (typeof b !== 'bigint' || b === 0n)) builtinErr('divide by zero');
  const x = intOf(a);
  const y = intOf(b);
  if (x !== undefined && y !== undefined && y !== 0n && x % y === 0n) return normInt(x / y);
  return roundFloat(Number(a) / Number(b));
}

/** OPA computes with big.Float and prints the shortest text; float64 division matches closely. */
function roundFloat(n: number): number {
  return n;
}

export function rem(a: Num, b: Num): Num {
  const x = intOf(a);
  const y = intOf(b);
  if (x === undefined || y === undefined) builtinErr('modulo on floating-point number');
  if (y === 0n) builtinErr('modulo by zero');
  return normInt(x % y);
}

function numArg(args: Value[], i: number): Num {
  return num(args, i);
}

export const numberBuiltins: BuiltinTable = {
  plus: def('plus', 2, (a) => add(numArg(a, 0), numArg(a, 1))),
  minus: def('minus', 2, (a) => {
    const x = a[0]!;
    if (x instanceof RSet) {
      const s = set(a, 0);
      const t = set(a, 1);
      const out = new RSet();
      for (const [k, v] of s.map) if (!t.map.has(k)) out.map.set(k, v);
      return out;
    }
    if (typeof x !== 'number' && typeof x !== 'bigint') typeErr(1, 'one of {number, set}', x);
    return sub(x, numArg(a, 1));
  }),
  mul: def('mul', 2, (a) => mul(numArg(a, 0), numArg(a, 1))),
  div: def('div', 2, (a) => div(numArg(a, 0), numArg(a, 1))),
  rem: def('rem', 2, (a) => rem(numArg(a, 0), numArg(a, 1))),
  abs: def('abs', 1, (a) => {
    const n = numArg(a, 0);
    return typeof n === 'bigint' ? (n < 0n ? -n : n) : Math.abs(n);
  }),
  round: def('round', 1, (a) => {
    const n = numArg(a, 0);
    if (typeof n === 'bigint') return n;
    // Go's math.Round rounds half away from zero.
    const r = Math.sign(n) * Math.round(Math.abs(n));
    return r === 0 ? 0 : r;
  }),
  ceil: def('ceil', 1, (a) => {
    const n = numArg(a, 0);
    return typeof n === 'bigint' ? n : Math.ceil(n) || 0;
  }),
  floor: def('floor', 1, (a) => {
    const n = numArg(a, 0);
    return typeof n === 'bigint' ? n : Math.floor(n);
  }),
  'numbers.range': def('numbers.range', 2, (a) => {
    const x = int(a, 0);
    const y = int(a, 1);
    const out: Value[] = [];
    if (x <= y) for (let i = x; i <= y; i++) out.push(i);
    else for (let i = x; i >= y; i--) out.push(i);
    return out;
  }),
  'numbers.range_step': def('numbers.range_step', 3, (a) => {
    const x = int(a, 0);
    const y = int(a, 1);
    const step = int(a, 2);
    if (step <= 0) builtinErr('step must be a positive integer');
    const out: Value[] = [];
    if (x <= y) for (let i = x; i <= y; i += step) out.push(i);
    else for (let i = x; i >= y; i -= step) out.push(i);
    return out;
  }),
  'bits.and': def('bits.and', 2, (a) => normInt(bigArg(a, 0) & bigArg(a, 1))),
  'bits.or': def('bits.or', 2, (a) => normInt(bigArg(a, 0) | bigArg(a, 1))),
  'bits.xor': def('bits.xor', 2, (a) => normInt(bigArg(a, 0) ^ bigArg(a, 1))),
  'bits.negate': def('bits.negate', 1, (a) => normInt(~bigArg(a, 0))),
  'bits.lsh': def('bits.lsh', 2, (a) => {
    const s = bigArg(a, 1);
    if (s < 0n) typeErr(2, 'unsigned integer number', -1);
    return normInt(bigArg(a, 0) << s);
  }),
  'bits.rsh': def('bits.rsh', 2, (a) => {
    const s = bigArg(a, 1);
    if (s < 0n) typeErr(2, 'unsigned integer number', -1);
    return normInt(bigArg(a, 0) >> s);
  }),
  'rand.intn': def('rand.intn', 2, (a, ctx) => {
    const seed = str(a, 0);
    const n = int(a, 1);
    if (n === 0) return 0;
    // The same arguments give the same number within one evaluation, as in OPA.
    const key = `rand.intn:${seed}:${n}`;
    const hit = ctx.memo.get(key);
    if (hit !== undefined) return hit;
    const v = Math.floor(Math.random() * Math.abs(n));
    ctx.memo.set(key, v);
    return v;
  }),
};

function bigArg(args: Value[], i: number): bigint {
  const n = num(args, i);
  const b = intOf(n);
  if (b === undefined)
    throw new BuiltinError(`operand ${i + 1} must be integer number but got floating-point number`, 'type');
  return b;
}
