import { describe, expect, it } from 'vitest';
import { createGatewayMetrics } from './metrics.js';

describe('gateway metrics', () => {
  it('labels requests by route template, method and status, never by raw path', async () => {
    const metrics = createGatewayMetrics(['/v1/people', '/v1/people/{id}']);
    const handler = metrics.measure(
      'public',
      async (r: Request) => new Response(null, { status: r.url.endsWith('/missing') ? 404 : 200 }),
    );
    for (const id of ['a1', 'b2', 'c3']) await handler(new Request(`http://x/v1/people/${id}`));
    await handler(new Request('http://x/v1/people', { method: 'POST' }));
    await handler(new Request('http://x/some/missing'));
    await handler(new Request('http://x/v1/people', { method: 'BREW' }));
    const text = await metrics.render().text();
    expect(text).toContain(
      'cpod_gateway_requests_total{listener="public",route="/v1/people/{id}",method="GET",status="200"} 3',
    );
    expect(text).toContain(
      'cpod_gateway_requests_total{listener="public",route="/v1/people",method="POST",status="200"} 1',
    );
    expect(text).toContain('route="unmatched",method="GET",status="404"} 1');
    expect(text).toContain('route="/v1/people",method="OTHER",status="200"} 1');
    expect(text).not.toMatch(/a1|b2|c3|some\/missing/);
  });

  it('counts a handler that throws as a 500 and rethrows', async () => {
    const metrics = createGatewayMetrics([]);
    const handler = metrics.measure('console', async () => {
      throw new Error('boom');
    });
    await expect(handler(new Request('http://x/graphql'))).rejects.toThrow('boom');
    expect(await metrics.render().text()).toContain(
      'cpod_gateway_requests_total{listener="console",route="/graphql",method="GET",status="500"} 1',
    );
  });
});
