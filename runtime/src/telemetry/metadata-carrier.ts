import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

/**
 * The part of grpc-js's `Metadata` that trace-context propagation needs, structurally, so
 * that the runtime does not depend on grpc-js.
 */
export interface MetadataCarrier {
  get(key: string): Array<string | Uint8Array>;
  set(key: string, value: string): void;
  getMap(): Record<string, string | Uint8Array>;
}

export const metadataGetter: TextMapGetter<MetadataCarrier> = {
  keys: (carrier) => Object.keys(carrier.getMap()),
  get: (carrier, key) => {
    const values = carrier.get(key).filter((v): v is string => typeof v === 'string');
    return values.length > 0 ? values : undefined;
  },
};

export const metadataSetter: TextMapSetter<MetadataCarrier> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
