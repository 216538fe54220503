import { type Context, createTraceState, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { maskAttributes, maskText } from './mask.js';

/** `tracestate` is free text a caller may fill; it is exported with the span and its links. */
function maskSpanContext(context: SpanContext): SpanContext {
  const raw = context.traceState?.serialize();
  if (raw === undefined) return context;
  const masked = maskText(raw);
  return masked === raw ? context : { ...context, traceState: createTraceState(masked) };
}

/** A copy of an ended span with every free-text field masked; ids, times and kind are untouched. */
export function maskSpan(span: ReadableSpan): ReadableSpan {
  const spanContext = maskSpanContext(span.spanContext());
  return {
    name: maskText(span.name),
    kind: span.kind,
    spanContext: () => spanContext,
    parentSpanContext: span.parentSpanContext && maskSpanContext(span.parentSpanContext),
    startTime: span.startTime,
    endTime: span.endTime,
    status:
      span.status.message === undefined
        ? span.status
        : { code: span.status.code, message: maskText(span.status.message) },
    attributes: maskAttributes(span.attributes),
    links: span.links.map((link) => ({
      context: maskSpanContext(link.context),
      ...(link.attributes ? { attributes: maskAttributes(link.attributes) } : {}),
      ...(link.droppedAttributesCount === undefined
        ? {}
        : { droppedAttributesCount: link.droppedAttributesCount }),
    })),
    events: span.events.map((event) => ({
      ...event,
      name: maskText(event.name),
      ...(event.attributes ? { attributes: maskAttributes(event.attributes) } : {}),
    })),
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/**
 * Sits in front of the export processor so that nothing reaches an exporter unmasked:
 * emails, phone numbers and credentials are replaced in span names, attributes, status
 * messages, events (exception messages included), links and `tracestate`. Masking happens once, when
 * the span ends, because attributes may be added at any time before that.
 */
export class MaskingSpanProcessor implements SpanProcessor {
  constructor(private readonly next: SpanProcessor) {}

  onStart(span: Span, parentContext: Context): void {
    this.next.onStart(span, parentContext);
  }

  onEnd(span: ReadableSpan): void {
    this.next.onEnd(maskSpan(span));
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.next.shutdown();
  }
}
