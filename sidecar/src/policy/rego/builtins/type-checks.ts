import { BuiltinError } from '../errors.js';
import { isNumber, normInt, RObject, RSet, typeName } from '../value.js';
import { type BuiltinTable, builtinErr, def, typeErr } from './types.js';

const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

export function parseNumberText(s: string): number | bigint {
  if (!NUMBER_TEXT.test(s)) builtinErr(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: invalid syntax`);
  if (/^[+-]?\d+$/.test(s)) {
    const n = Number(s);
    return Number.isSafeInteger(n) ? n : normInt(BigInt(s.replace(/^\+/, '')));
  }
  return Number(s);
}

export const typeBuiltins: BuiltinTable = {
  is_string: def('is_string', 1, (a) => typeof a[0] === 'string'),
  is_number: def('is_number', 1, (a) => isNumber(a[0])),
  is_boolean: def('is_boolean', 1, (a) => typeof a[0] === 'boolean'),
  is_array: def('is_array', 1, (a) => Array.isArray(a[0])),
  is_set: def('is_set', 1, (a) => a[0] instanceof RSet),
  is_object: def('is_object', 1, (a) => a[0] instanceof RObject),
  is_null: def('is_null', 1, (a) => a[0] === null),
  type_name: def('type_name', 1, (a) => typeName(a[0]!)),
  to_number: def('to_number', 1, (a) => {
    const v = a[0]!;
    if (v === null) return 0;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (isNumber(v)) return v;
    if (typeof v === 'string') {
      // Go's ParseFloat accepts these, OPA then rejects them as not a JSON number.
      if (/^[+-]?(inf|infinity|nan)$/i.test(v))
        throw new BuiltinError(`operand 1 must be a finite number but got ${v}`, 'type');
      return parseNumberText(v);
    }
    return typeErr(1, 'one of {null, boolean, number, string}', v);
  }),
  cast_array: def('cast_array', 1, (a) => {
    const v = a[0]!;
    if (Array.isArray(v)) return v;
    if (v instanceof RSet) return v.sorted();
    return typeErr(1, 'one of {array, set}', v);
  }),
  cast_set: def('cast_set', 1, (a) => {
    const v = a[0]!;
    if (Array.isArray(v)) return RSet.of(v);
    if (v instanceof RSet) return v;
    return typeErr(1, 'one of {array, set}', v);
  }),
  cast_string: def('cast_string', 1, (a) => (typeof a[0] === 'string' ? a[0] : typeErr(1, 'string', a[0]!))),
  cast_boolean: def('cast_boolean', 1, (a) =>
    typeof a[0] === 'boolean' ? a[0] : typeErr(1, 'boolean', a[0]!),
  ),
  cast_null: def('cast_null', 1, (a) => (a[0] === null ? null : typeErr(1, 'null', a[0]!))),
  cast_object: def('cast_object', 1, (a) => (a[0] instanceof RObject ? a[0] : typeErr(1, 'object', a[0]!))),
  toset: def('toset', 1, (a) => {
    const v = a[0]!;
    if (Array.isArray(v)) return RSet.of(v);
    if (v instanceof RSet) return v;
    return typeErr(1, 'one of {array, set}', v);
  }),
};
