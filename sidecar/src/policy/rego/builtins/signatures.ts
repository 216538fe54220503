/**
 * Argument and result types of the built-ins, in the notation OPA prints (see static-types.ts),
 * used by the compile-time type check. They follow OPA's declarations, never stricter: a policy OPA
 * accepts must type-check here too. A built-in without an entry is not checked and returns `any`.
 */
import { parseSignature, type Signature } from '../static-types.js';

const COLLECTION = 'any<array[any], set[any]>';
const NUMBERS = 'any<array[number], set[number]>';
const STRINGS = 'any<string, array[string], set[string]>';
const KEYS = 'any<array[any], object[any: any], set[any]>';
const JSON_PATHS = 'any<array[any<string, array[any]>], set[any<string, array[any]>]>';
const TIME = 'any<number, array<number, string>>';
const SCHEMA = 'any<boolean, string, object[any: any]>';
const BYTES = '(string) => string';

const NOTATION: Record<string, string> = {
  // Operators.
  equal: '(any, any) => boolean',
  neq: '(any, any) => boolean',
  lt: '(any, any) => boolean',
  lte: '(any, any) => boolean',
  gt: '(any, any) => boolean',
  gte: '(any, any) => boolean',
  plus: '(number, number) => number',
  minus: '(any<number, set[any]>, any<number, set[any]>) => any<number, set[any]>',
  mul: '(number, number) => number',
  div: '(number, number) => number',
  rem: '(number, number) => number',
  and: '(set[any], set[any]) => set[any]',
  or: '(set[any], set[any]) => set[any]',
  'internal.member_2': '(any, any) => boolean',
  'internal.member_3': '(any, any, any) => boolean',

  // Numbers.
  abs: '(number) => number',
  ceil: '(number) => number',
  floor: '(number) => number',
  round: '(number) => number',
  'numbers.range': '(number, number) => array[number]',
  'numbers.range_step': '(number, number, number) => array[number]',
  'bits.and': '(number, number) => number',
  'bits.or': '(number, number) => number',
  'bits.xor': '(number, number) => number',
  'bits.lsh': '(number, number) => number',
  'bits.rsh': '(number, number) => number',
  'bits.negate': '(number) => number',
  'rand.intn': '(string, number) => number',

  // Aggregates and collections.
  count: '(any<string, array[any], object[any: any], set[any]>) => number',
  sum: `(${NUMBERS}) => number`,
  product: `(${NUMBERS}) => number`,
  max: `(${COLLECTION}) => any`,
  min: `(${COLLECTION}) => any`,
  sort: `(${COLLECTION}) => array[any]`,
  all: `(${COLLECTION}) => boolean`,
  any: `(${COLLECTION}) => boolean`,
  union: '(set[set[any]]) => set[any]',
  intersection: '(set[set[any]]) => set[any]',
  'array.concat': '(array[any], array[any]) => array[any]',
  'array.slice': '(array[any], number, number) => array[any]',
  'array.reverse': '(array[any]) => array[any]',
  'array.flatten': '(array[any]) => array[any]',
  'object.get': '(object[any: any], any, any) => any',
  'object.keys': '(object[any: any]) => set[any]',
  'object.remove': `(object[any: any], ${KEYS}) => object[any: any]`,
  'object.filter': `(object[any: any], ${KEYS}) => object[any: any]`,
  'object.union': '(object[any: any], object[any: any]) => any',
  'object.union_n': '(array[object[any: any]]) => any',
  'object.subset': `(${KEYS}, ${KEYS}) => boolean`,
  'json.filter': `(object[any: any], ${JSON_PATHS}) => any`,
  'json.remove': `(object[any: any], ${JSON_PATHS}) => any`,
  'graph.reachable': `(object[any: any], ${COLLECTION}) => set[any]`,
  'graph.reachable_paths': `(object[any: any], ${COLLECTION}) => set[array[any]]`,
  walk: '(any) => array<array[any], any>',

  // Strings.
  concat: '(string, any<array[string], set[string]>) => string',
  contains: '(string, string) => boolean',
  startswith: '(string, string) => boolean',
  endswith: '(string, string) => boolean',
  format_int: '(number, number) => string',
  indexof: '(string, string) => number',
  indexof_n: '(string, string) => array[number]',
  lower: '(string) => string',
  upper: '(string) => string',
  replace: '(string, string, string) => string',
  split: '(string, string) => array[string]',
  sprintf: '(string, array[any]) => string',
  substring: '(string, number, number) => string',
  trim: '(string, string) => string',
  trim_left: '(string, string) => string',
  trim_right: '(string, string) => string',
  trim_prefix: '(string, string) => string',
  trim_suffix: '(string, string) => string',
  trim_space: '(string) => string',
  'strings.any_prefix_match': `(${STRINGS}, ${STRINGS}) => boolean`,
  'strings.any_suffix_match': `(${STRINGS}, ${STRINGS}) => boolean`,
  'strings.count': '(string, string) => number',
  'strings.render_template': '(string, object[string: any]) => string',
  'strings.replace_n': '(object[string: string], string) => string',
  'strings.reverse': '(string) => string',

  // Patterns.
  re_match: '(string, string) => boolean',
  'regex.match': '(string, string) => boolean',
  'regex.is_valid': '(any) => boolean',
  'regex.split': '(string, string) => array[string]',
  'regex.replace': '(string, string, string) => string',
  'regex.find_n': '(string, string, number) => array[string]',
  'regex.find_all_string_submatch_n': '(string, string, number) => array[array[string]]',
  'regex.template_match': '(string, string, string, string) => boolean',
  'glob.match': '(string, any<null, array[string]>, string) => boolean',
  'glob.quote_meta': '(string) => string',

  // Types.
  is_string: '(any) => boolean',
  is_number: '(any) => boolean',
  is_boolean: '(any) => boolean',
  is_array: '(any) => boolean',
  is_set: '(any) => boolean',
  is_object: '(any) => boolean',
  is_null: '(any) => boolean',
  type_name: '(any) => string',
  to_number: '(any<null, boolean, number, string>) => number',
  cast_array: '(any) => array[any]',
  cast_set: '(any) => set[any]',
  cast_string: '(any) => string',
  cast_boolean: '(any) => boolean',
  cast_null: '(any) => null',
  cast_object: '(any) => object[any: any]',

  // Encodings.
  'base64.encode': BYTES,
  'base64.decode': BYTES,
  'base64.is_valid': '(string) => boolean',
  'base64url.encode': BYTES,
  'base64url.encode_no_pad': BYTES,
  'base64url.decode': BYTES,
  'hex.encode': BYTES,
  'hex.decode': BYTES,
  'urlquery.encode': BYTES,
  'urlquery.decode': BYTES,
  'urlquery.encode_object': '(object[string: any<string, array[string], set[string]>]) => string',
  'urlquery.decode_object': '(string) => object[string: array[string]]',
  'json.marshal': '(any) => string',
  'json.marshal_with_options': '(any, object[string: any]) => string',
  'json.unmarshal': '(string) => any',
  'json.is_valid': '(string) => boolean',
  'json.verify_schema': `(${SCHEMA}) => array<boolean, any<null, string>>`,
  'json.match_schema': `(any, ${SCHEMA}) => array<boolean, array[object[string: any]]>`,
  'yaml.marshal': '(any) => string',
  'yaml.unmarshal': '(string) => any',
  'yaml.is_valid': '(string) => boolean',

  // Crypto and tokens.
  'crypto.md5': BYTES,
  'crypto.sha1': BYTES,
  'crypto.sha256': BYTES,
  'crypto.sha512': BYTES,
  'crypto.hmac.md5': '(string, string) => string',
  'crypto.hmac.sha1': '(string, string) => string',
  'crypto.hmac.sha256': '(string, string) => string',
  'crypto.hmac.sha512': '(string, string) => string',
  'crypto.hmac.equal': '(string, string) => boolean',
  'io.jwt.decode': '(string) => array<object[any: any], object[any: any], string>',
  'io.jwt.decode_verify':
    '(string, object[string: any]) => array<boolean, object[any: any], object[any: any]>',
  'io.jwt.encode_sign': '(object[string: any], object[string: any], object[string: any]) => string',
  'io.jwt.encode_sign_raw': '(string, string, string) => string',

  // Time and the rest.
  'time.now_ns': '() => number',
  'time.parse_ns': '(string, string) => number',
  'time.parse_rfc3339_ns': '(string) => number',
  'time.parse_duration_ns': '(string) => number',
  'time.date': `(${TIME}) => array<number, number, number>`,
  'time.clock': `(${TIME}) => array<number, number, number>`,
  'time.weekday': `(${TIME}) => string`,
  'time.format': `(any<number, array<number, string>, array<number, string, string>>) => string`,
  'time.add_date': '(number, number, number, number) => number',
  'time.diff': `(${TIME}, ${TIME}) => array<number, number, number, number, number, number>`,
  'units.parse': '(string) => number',
  'units.parse_bytes': '(string) => number',
  'uuid.rfc4122': '(string) => string',
  'uuid.parse': '(string) => object[string: any]',
  'semver.compare': '(string, string) => number',
  'semver.is_valid': '(any) => boolean',
  'http.send': '(object[string: any]) => object[any: any]',
  'opa.runtime': '() => object[string: any]',
};

for (const alg of ['es', 'hs', 'ps', 'rs']
  .flatMap((f) => [`${f}256`, `${f}384`, `${f}512`])
  .concat('eddsa')) {
  NOTATION[`io.jwt.verify_${alg}`] = '(string, string) => boolean';
}

let table: Map<string, Signature> | undefined;

/** Parsed on first use (the first compile), then shared. */
export function builtinSignature(name: string): Signature | undefined {
  if (table === undefined) {
    table = new Map();
    for (const [n, s] of Object.entries(NOTATION)) table.set(n, parseSignature(s));
  }
  return table.get(name);
}
