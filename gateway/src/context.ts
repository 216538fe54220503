import type { Principal } from '@cpod/proto';
import type { SidecarClient } from '@cpod/sdk';
import type { PersonRepository } from './people/person-repository.js';

export interface GatewayContext {
  request: Request;
  /** Set by the chain from the validated token; undefined only for anonymous console introspection. */
  principal?: Principal;
  tenantId?: string;
  people: PersonRepository;
  sidecar: SidecarClient;
}
