// Writes schema/schema.graphql and schema/openapi.json from the built gateway, so both
// are derived from the Pothos schema and the REST route table, never edited by hand.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApi, compileRoutes, printedSchema, schema } from '@cpod/gateway';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(root, 'schema'), { recursive: true });
writeFileSync(join(root, 'schema/schema.graphql'), printedSchema());
writeFileSync(
  join(root, 'schema/openapi.json'),
  `${JSON.stringify(buildOpenApi(compileRoutes(schema)), null, 2)}\n`,
);
