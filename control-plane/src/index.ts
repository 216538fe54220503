export { createControlPlaneApp, type ControlPlaneDeps } from './app.js';
export { generateAdminToken, type RunningControlPlane, startControlPlane } from './server.js';
export { loadSigningKeys, type SigningKeys } from './signing-keys.js';
