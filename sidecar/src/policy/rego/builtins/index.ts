import { collectionBuiltins } from './collections.js';
import { cryptoBuiltins } from './crypto.js';
import { encodingBuiltins } from './encoding.js';
import { jsonSchemaBuiltins } from './json-schema.js';
import { jwtBuiltins } from './jwt.js';
import { miscBuiltins } from './misc.js';
import { numberBuiltins } from './numbers.js';
import { patternBuiltins } from './patterns.js';
import { stringBuiltins } from './strings.js';
import { timeBuiltins } from './time.js';
import { typeBuiltins } from './type-checks.js';
import type { BuiltinTable } from './types.js';

/** Every built-in the engine knows; anything else is a compile error ("undefined function"). */
export const BUILTINS: BuiltinTable = {
  ...collectionBuiltins,
  ...numberBuiltins,
  ...stringBuiltins,
  ...typeBuiltins,
  ...patternBuiltins,
  ...encodingBuiltins,
  ...jsonSchemaBuiltins,
  ...cryptoBuiltins,
  ...timeBuiltins,
  ...jwtBuiltins,
  ...miscBuiltins,
};
