export { type ControlPlaneDeps, createControlPlaneApp } from './app.js';
export { generateAdminToken, type RunningControlPlane, startControlPlane } from './server.js';
export { loadSigningKeys, type SigningKeys } from './signing-keys.js';
