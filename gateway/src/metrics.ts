import { Counter, Histogram, Registry } from '@cpod/runtime';

/**
 * The gateway's Prometheus metrics, served at GET /metrics on the console listener only (the
 * public listener has no /metrics). Requests are labelled by route template, never by raw
 * path, so ids in URLs cannot blow up the number of series.
 */
export interface GatewayMetrics {
  registry: Registry;
  /** Wraps a listener's fetch handler, counting and timing every request. */
  measure<A extends unknown[]>(
    listener: 'public' | 'console',
    handler: (request: Request, ...rest: A) => Promise<Response>,
  ): (request: Request, ...rest: A) => Promise<Response>;
  /** The /metrics response. */
  render(): Response;
}

const FIXED_ROUTES = new Set(['/graphql', '/healthz', '/readyz', '/openapi.json', '/metrics', '/']);

/** `/v1/people/{id}` → a matcher; `{name}` is one path segment. */
function templateMatcher(template: string): RegExp {
  const pattern = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`);
}

export function createGatewayMetrics(routeTemplates: string[]): GatewayMetrics {
  const registry = new Registry();
  const requests = registry.add(
    new Counter('cpod_gateway_requests_total', 'HTTP requests by listener, route, method and status.'),
  );
  const seconds = registry.add(
    new Histogram(
      'cpod_gateway_request_duration_seconds',
      'HTTP request latency by listener, route, method and status.',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    ),
  );
  const matchers = routeTemplates.map((t) => ({ template: t, re: templateMatcher(t) }));
  const routeOf = (path: string) => {
    if (FIXED_ROUTES.has(path) || path.startsWith('/v1/oauth/') || path.startsWith('/.well-known/')) {
      return path;
    }
    return matchers.find((m) => m.re.test(path))?.template ?? 'unmatched';
  };
  // Anything else a client sends as a method is folded into one label value.
  const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

  return {
    registry,
    measure:
      (listener, handler) =>
      async (request, ...rest) => {
        const started = performance.now();
        const labels = () => ({
          listener,
          route: routeOf(new URL(request.url).pathname),
          method: METHODS.has(request.method) ? request.method : 'OTHER',
        });
        try {
          const response = await handler(request, ...rest);
          const l = { ...labels(), status: String(response.status) };
          requests.inc(l);
          seconds.observe(l, (performance.now() - started) / 1000);
          return response;
        } catch (err) {
          const l = { ...labels(), status: '500' };
          requests.inc(l);
          seconds.observe(l, (performance.now() - started) / 1000);
          throw err;
        }
      },
    render: () =>
      new Response(registry.render(), {
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      }),
  };
}
