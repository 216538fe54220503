export { AsyncLocalContextManager } from './context-manager.js';
export { maskAttributes, maskText } from './mask.js';
export { MaskingSpanProcessor, maskSpan } from './masking-span-processor.js';
export { type MetadataCarrier, metadataGetter, metadataSetter } from './metadata-carrier.js';
export { startTracing, type Tracing, type TracingOptions, tracesUrl } from './tracing.js';
