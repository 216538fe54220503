import { lexicographicSortSchema, printSchema } from 'graphql';
import { builder } from './builder.js';
import './audit.js';
import './person.js';
import './policy.js';
import './rate-limit.js';

/** The one schema both GraphQL and REST execute. */
export const schema = builder.toSchema();

/** The committed schema/schema.graphql is exactly this text. */
export function printedSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
