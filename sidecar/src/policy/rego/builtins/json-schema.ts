/**
 * `json.verify_schema` and `json.match_schema`: a JSON Schema validator (draft 4 to 7 keywords,
 * local `$ref`s) whose results match the shape and wording OPA returns, since OPA reports the
 * errors of its Go validator verbatim: `{desc, error, field, type}` with `field` `(root)` or a
 * dotted path and `type` one of the validator's error kinds (`invalid_type`, `required`, ...).
 */
import { equal, fromJS, RObject, toJS, type Value } from '../value.js';
import { parseJSONValue } from './encoding.js';
import { type BuiltinTable, builtinErr, def, typeErr } from './types.js';

type Json = null | boolean | number | bigint | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

interface Failure {
  field: string;
  type: string;
  desc: string;
}

const TYPES = ['array', 'boolean', 'integer', 'number', 'null', 'object', 'string'];

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNum(v: Json | undefined): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

function jsonType(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (isNum(v)) return typeof v === 'bigint' || Number.isInteger(v) ? 'integer' : 'number';
  return typeof v === 'object' ? 'object' : typeof v;
}

function text(v: Json): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));
}

/** Go's `%v` of a list of strings: `[a b]`. */
function goList(xs: string[]): string {
  return `[${xs.join(' ')}]`;
}

function fail(message: string): never {
  return builtinErr(message);
}

// ---- schema well-formedness ------------------------------------------------------------------

const SUBSCHEMA = [
  'additionalItems',
  'additionalProperties',
  'contains',
  'propertyNames',
  'not',
  'if',
  'then',
  'else',
];
const SUBSCHEMA_LISTS = ['allOf', 'anyOf', 'oneOf'];
const SUBSCHEMA_MAPS = ['properties', 'patternProperties', 'definitions', '$defs'];
const COUNTS = ['maxLength', 'minLength', 'maxItems', 'minItems', 'maxProperties', 'minProperties'];

/** Rejects schemas the validator cannot apply, with the Go validator's wording where it has one. */
function checkSchema(s: Json, where: string): void {
  if (typeof s === 'boolean') return;
  if (!isObject(s)) fail(`Invalid type. Expected: object or boolean, given: ${jsonType(s)} at ${where}`);
  const t = s.type;
  if (t !== undefined) {
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0 && Array.isArray(t))
      fail(`type must be of a string or array of strings at ${where}`);
    for (const x of list) {
      if (typeof x !== 'string') fail(`type must be of a string or array of strings at ${where}`);
      if (!TYPES.includes(x)) {
        fail(
          `has a primitive type that is NOT VALID -- given: /${x}/ Expected valid values are:${goList(TYPES)}`,
        );
      }
    }
  }
  if (s.enum !== undefined && !Array.isArray(s.enum)) fail(`enum must be of a array at ${where}`);
  if (
    s.required !== undefined &&
    (!Array.isArray(s.required) || s.required.some((x) => typeof x !== 'string'))
  )
    fail(`required must be of a array of strings at ${where}`);
  for (const k of COUNTS) {
    const v = s[k];
    if (v !== undefined && (!isNum(v) || Number(v) < 0 || !Number.isInteger(Number(v))))
      fail(`${k} must be of a non-negative integer at ${where}`);
  }
  for (const k of ['minimum', 'maximum', 'multipleOf']) {
    if (s[k] !== undefined && !isNum(s[k])) fail(`${k} must be of a number at ${where}`);
  }
  if (s.multipleOf !== undefined && Number(s.multipleOf) <= 0)
    fail(`multipleOf must be strictly greater than 0 at ${where}`);
  if (s.pattern !== undefined) {
    if (typeof s.pattern !== 'string') fail(`pattern must be of a string at ${where}`);
    regex(s.pattern, where);
  }
  for (const k of SUBSCHEMA) if (s[k] !== undefined) checkSchema(s[k], `${where}/${k}`);
  for (const k of SUBSCHEMA_LISTS) {
    const v = s[k];
    if (v === undefined) continue;
    if (!Array.isArray(v) || v.length === 0) fail(`${k} must be of a non-empty array at ${where}`);
    v.forEach((x, i) => {
      checkSchema(x, `${where}/${k}/${i}`);
    });
  }
  for (const k of SUBSCHEMA_MAPS) {
    const v = s[k];
    if (v === undefined) continue;
    if (!isObject(v)) fail(`${k} must be of a object at ${where}`);
    for (const [name, x] of Object.entries(v)) {
      if (k === 'patternProperties') regex(name, where);
      checkSchema(x, `${where}/${k}/${name}`);
    }
  }
  if (s.items !== undefined) {
    if (Array.isArray(s.items))
      s.items.forEach((x, i) => {
        checkSchema(x, `${where}/items/${i}`);
      });
    else checkSchema(s.items, `${where}/items`);
  }
  if (isObject(s.dependencies)) {
    for (const [name, d] of Object.entries(s.dependencies)) {
      if (!Array.isArray(d)) checkSchema(d, `${where}/dependencies/${name}`);
    }
  }
}

const regexCache = new Map<string, RegExp>();

function compile(src: string, flags: string): RegExp | undefined {
  try {
    return new RegExp(src, flags);
  } catch {
    return undefined;
  }
}

function regex(src: string, where = ''): RegExp {
  let r = regexCache.get(src);
  if (r === undefined) {
    r = compile(src, 'u') ?? compile(src, '');
    // Unicode mode rejects some escapes RE2 accepts (`\_`); plain mode takes them as literals.
    if (r === undefined)
      fail(`Invalid regular expression ${JSON.stringify(src)}${where ? ` at ${where}` : ''}`);
    if (regexCache.size > 256) regexCache.clear();
    regexCache.set(src, r);
  }
  return r;
}

// ---- validation ------------------------------------------------------------------------------

class Validator {
  readonly failures: Failure[] = [];

  constructor(private readonly root: Json) {}

  private add(path: string[], type: string, desc: string): void {
    this.failures.push({ field: path.length === 0 ? '(root)' : path.join('.'), type, desc });
  }

  /** Resolves `#`, `#/definitions/x` and other JSON pointers into the root schema. */
  private resolve(ref: string): Json {
    if (!ref.startsWith('#'))
      fail(`unsupported $ref ${JSON.stringify(ref)}: only local references are resolved`);
    let cur: Json | undefined = this.root;
    for (const raw of ref.slice(1).split('/').slice(1)) {
      const seg = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
      if (Array.isArray(cur)) cur = cur[Number(seg)];
      else if (isObject(cur)) cur = cur[seg];
      else cur = undefined;
      if (cur === undefined) fail(`$ref ${JSON.stringify(ref)} does not resolve`);
    }
    return cur ?? fail(`$ref ${JSON.stringify(ref)} does not resolve`);
  }

  /** Whether `doc` is valid, without recording why. */
  private passes(schema: Json, doc: Json, path: string[], depth: number): boolean {
    const mark = this.failures.length;
    this.validate(schema, doc, path, depth);
    const ok = this.failures.length === mark;
    this.failures.length = mark;
    return ok;
  }

  validate(schema: Json, doc: Json, path: string[], depth = 0): void {
    if (depth > 64) fail('schema $ref nesting is too deep');
    if (schema === true) return;
    if (schema === false) {
      this.add(path, 'false', 'False always fails validation');
      return;
    }
    if (!isObject(schema)) return;
    if (typeof schema.$ref === 'string') {
      // Before draft 2019-09 a `$ref` replaces its sibling keywords.
      this.validate(this.resolve(schema.$ref), doc, path, depth + 1);
      return;
    }
    const field = path.length === 0 ? '(root)' : path.join('.');
    if (schema.type !== undefined) {
      const want = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[];
      const given = jsonType(doc);
      if (!want.some((t) => t === given || (t === 'number' && given === 'integer'))) {
        const expected = want.length === 1 ? want[0]! : goList(want);
        this.add(path, 'invalid_type', `Invalid type. Expected: ${expected}, given: ${given}`);
        return;
      }
    }
    this.combinators(schema, doc, path, depth);
    if (schema.const !== undefined && !same(schema.const, doc))
      this.add(path, 'const', `${field} does not match: ${text(schema.const)}`);
    if (Array.isArray(schema.enum) && !schema.enum.some((x) => same(x, doc))) {
      this.add(path, 'enum', `${field} must be one of the following: ${schema.enum.map(text).join(', ')}`);
    }
    if (Array.isArray(doc)) this.array(schema, doc, path, depth);
    else if (isObject(doc)) this.object(schema, doc, path, depth);
    else if (typeof doc === 'string') this.string(schema, doc, path);
    else if (isNum(doc)) this.number(schema, doc, path);
  }

  private combinators(s: JsonObject, doc: Json, path: string[], depth: number): void {
    if (Array.isArray(s.anyOf) && !s.anyOf.some((x) => this.passes(x, doc, path, depth + 1)))
      this.add(path, 'number_any_of', 'Must validate at least one schema (anyOf)');
    if (Array.isArray(s.oneOf)) {
      const n = s.oneOf.filter((x) => this.passes(x, doc, path, depth + 1)).length;
      if (n !== 1) this.add(path, 'number_one_of', 'Must validate one and only one schema (oneOf)');
    }
    if (Array.isArray(s.allOf)) {
      const before = this.failures.length;
      for (const x of s.allOf) this.validate(x, doc, path, depth + 1);
      if (this.failures.length > before)
        this.add(path, 'number_all_of', 'Must validate all the schemas (allOf)');
    }
    if (s.not !== undefined && this.passes(s.not, doc, path, depth + 1))
      this.add(path, 'number_not', 'Must not validate the schema (not)');
    if (s.if !== undefined) {
      if (this.passes(s.if, doc, path, depth + 1)) {
        if (s.then !== undefined && !this.passes(s.then, doc, path, depth + 1)) {
          this.validate(s.then, doc, path, depth + 1);
          this.add(path, 'condition_then', 'Must validate "then" as "if" was valid');
        }
      } else if (s.else !== undefined && !this.passes(s.else, doc, path, depth + 1)) {
        this.validate(s.else, doc, path, depth + 1);
        this.add(path, 'condition_else', 'Must validate "else" as "if" was not valid');
      }
    }
  }

  private array(s: JsonObject, doc: Json[], path: string[], depth: number): void {
    const at = (i: number) => [...path, String(i)];
    if (Array.isArray(s.items)) {
      const tuple = s.items;
      doc.forEach((x, i) => {
        if (i < tuple.length) this.validate(tuple[i]!, x, at(i), depth + 1);
        else if (s.additionalItems === false)
          this.add(path, 'array_no_additional_items', 'No additional items allowed on array');
        else if (s.additionalItems !== undefined) this.validate(s.additionalItems, x, at(i), depth + 1);
      });
    } else if (s.items !== undefined) {
      const items = s.items;
      doc.forEach((x, i) => {
        this.validate(items, x, at(i), depth + 1);
      });
    }
    if (isNum(s.minItems) && doc.length < Number(s.minItems))
      this.add(path, 'array_min_items', `Array must have at least ${text(s.minItems)} items`);
    if (isNum(s.maxItems) && doc.length > Number(s.maxItems))
      this.add(path, 'array_max_items', `Array must have at most ${text(s.maxItems)} items`);
    if (s.uniqueItems === true) {
      outer: for (let i = 0; i < doc.length; i++) {
        for (let j = i + 1; j < doc.length; j++) {
          if (same(doc[i]!, doc[j]!)) {
            this.add(path, 'unique', `array items[${i},${j}] must be unique`);
            break outer;
          }
        }
      }
    }
    if (s.contains !== undefined) {
      const c = s.contains;
      if (!doc.some((x, i) => this.passes(c, x, at(i), depth + 1)))
        this.add(path, 'contains', 'At least one of the items must match');
    }
  }

  private object(s: JsonObject, doc: JsonObject, path: string[], depth: number): void {
    const keys = Object.keys(doc).sort();
    if (isNum(s.minProperties) && keys.length < Number(s.minProperties))
      this.add(path, 'array_min_properties', `Must have at least ${text(s.minProperties)} properties`);
    if (isNum(s.maxProperties) && keys.length > Number(s.maxProperties))
      this.add(path, 'array_max_properties', `Must have at most ${text(s.maxProperties)} properties`);
    if (Array.isArray(s.required)) {
      for (const r of s.required) {
        if (typeof r === 'string' && !(r in doc)) this.add(path, 'required', `${r} is required`);
      }
    }
    const props = isObject(s.properties) ? s.properties : {};
    const patterns = isObject(s.patternProperties) ? Object.entries(s.patternProperties) : [];
    for (const k of keys) {
      const v = doc[k]!;
      let matched = false;
      if (Object.hasOwn(props, k)) {
        matched = true;
        this.validate(props[k]!, v, [...path, k], depth + 1);
      }
      for (const [p, ps] of patterns) {
        if (regex(p).test(k)) {
          matched = true;
          this.validate(ps, v, [...path, k], depth + 1);
        }
      }
      if (!matched && s.additionalProperties !== undefined) {
        if (s.additionalProperties === false)
          this.add(path, 'additional_property_not_allowed', `Additional property ${k} is not allowed`);
        else this.validate(s.additionalProperties, v, [...path, k], depth + 1);
      }
      if (s.propertyNames !== undefined && !this.passes(s.propertyNames, k, path, depth + 1))
        this.add(path, 'invalid_property_name', `Property "${k}" does not match the schema`);
    }
    if (isObject(s.dependencies)) {
      for (const [k, d] of Object.entries(s.dependencies)) {
        if (!(k in doc)) continue;
        if (Array.isArray(d)) {
          for (const need of d) {
            if (typeof need === 'string' && !(need in doc))
              this.add(path, 'missing_dependency', `Has a dependency on ${need}`);
          }
        } else this.validate(d, doc, path, depth + 1);
      }
    }
  }

  private string(s: JsonObject, doc: string, path: string[]): void {
    const n = [...doc].length;
    if (isNum(s.minLength) && n < Number(s.minLength))
      this.add(path, 'string_gte', `String length must be greater than or equal to ${text(s.minLength)}`);
    if (isNum(s.maxLength) && n > Number(s.maxLength))
      this.add(path, 'string_lte', `String length must be less than or equal to ${text(s.maxLength)}`);
    if (typeof s.pattern === 'string' && !regex(s.pattern).test(doc))
      this.add(path, 'pattern', `Does not match pattern '${s.pattern}'`);
  }

  private number(s: JsonObject, doc: number | bigint, path: string[]): void {
    const x = Number(doc);
    if (isNum(s.multipleOf)) {
      const q = x / Number(s.multipleOf);
      if (Math.abs(q - Math.round(q)) > 1e-9)
        this.add(path, 'multiple_of', `Must be a multiple of ${text(s.multipleOf)}`);
    }
    // Draft 4 spells exclusive bounds as booleans beside minimum/maximum, later drafts as numbers.
    const exMin = s.exclusiveMinimum;
    const exMax = s.exclusiveMaximum;
    if (isNum(s.minimum)) {
      if (exMin === true ? x <= Number(s.minimum) : x < Number(s.minimum)) {
        if (exMin === true) this.add(path, 'number_gt', `Must be greater than ${text(s.minimum)}`);
        else this.add(path, 'number_gte', `Must be greater than or equal to ${text(s.minimum)}`);
      }
    }
    if (isNum(exMin) && x <= Number(exMin))
      this.add(path, 'number_gt', `Must be greater than ${text(exMin)}`);
    if (isNum(s.maximum)) {
      if (exMax === true ? x >= Number(s.maximum) : x > Number(s.maximum)) {
        if (exMax === true) this.add(path, 'number_lt', `Must be less than ${text(s.maximum)}`);
        else this.add(path, 'number_lte', `Must be less than or equal to ${text(s.maximum)}`);
      }
    }
    if (isNum(exMax) && x >= Number(exMax)) this.add(path, 'number_lt', `Must be less than ${text(exMax)}`);
  }
}

/** JSON equality: 1 equals 1.0, objects compare by members. */
function same(a: Json, b: Json): boolean {
  return equal(fromJS(a), fromJS(b));
}

/** A schema or document operand: a JSON string, or a value used as it is. */
function operand(args: Value[], i: number, what: string): Json {
  const v = args[i]!;
  if (typeof v === 'string') {
    try {
      return toJS(parseJSONValue(v)) as Json;
    } catch (e) {
      return fail(`${what} is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof v === 'boolean' && what === 'schema') return v;
  if (!(v instanceof RObject) && what === 'schema') typeErr(i + 1, 'one of {string, object, boolean}', v);
  return toJS(v) as Json;
}

export const jsonSchemaBuiltins: BuiltinTable = {
  'json.verify_schema': def('json.verify_schema', 1, (a) => {
    if (typeof a[0] !== 'string') operand(a, 0, 'schema');
    try {
      checkSchema(operand(a, 0, 'schema'), '#');
    } catch (e) {
      return [false, (e as Error).message];
    }
    return [true, null];
  }),
  'json.match_schema': def('json.match_schema', 2, (a) => {
    const doc = operand(a, 0, 'document');
    const schema = operand(a, 1, 'schema');
    checkSchema(schema, '#');
    const v = new Validator(schema);
    v.validate(schema, doc, []);
    const errors = v.failures.map((f) =>
      RObject.fromEntries([
        ['desc', f.desc],
        ['error', `${f.field}: ${f.desc}`],
        ['field', f.field],
        ['type', f.type],
      ]),
    );
    return [errors.length === 0, errors];
  }),
};
