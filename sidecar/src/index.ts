export { AuditChain, GENESIS_HASH, hashRecord } from './audit/audit-chain.js';
export { canonicalJson } from './audit/canonical-json.js';
export { TokenValidator } from './auth/token-validator.js';
export { GRPC_STATUS } from './grpc-errors.js';
export { checkSidecarConfig, DEFAULT_POLICY_DIR, type RunningSidecar, startSidecar } from './server.js';
