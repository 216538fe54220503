export { createGateway, type Gateway, type GatewayDeps, GRAPHQL_ENDPOINT } from './app.js';
export { buildOpenApi } from './rest/openapi.js';
export { compileRoutes, REST_ROUTES } from './rest/rest-routes.js';
export { printedSchema, schema } from './schema/index.js';
export { type RunningGateway, startGateway } from './server.js';
