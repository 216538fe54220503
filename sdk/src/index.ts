export { SidecarClient, type SidecarClientOptions, SidecarError } from './sidecar-client.js';
