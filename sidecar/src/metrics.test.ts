import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Histogram, Registry } from './metrics.js';

describe('Prometheus text format', () => {
  it('renders counters by label set, cumulative histogram buckets and scraped gauges', () => {
    const registry = new Registry();
    const calls = registry.add(new Counter('calls_total', 'Calls.'));
    const latency = registry.add(new Histogram('latency_seconds', 'Latency.', [0.01, 0.1]));
    let depth = 3;
    registry.add(new Gauge('depth', 'Depth.', () => depth));
    calls.inc({ method: 'A', outcome: 'ok' });
    calls.inc({ method: 'A', outcome: 'ok' });
    calls.inc({ method: 'B', outcome: 'say "hi"\n' });
    latency.observe({ method: 'A' }, 0.005);
    latency.observe({ method: 'A' }, 0.05);
    latency.observe({ method: 'A' }, 5);
    depth = 7;
    expect(registry.render()).toBe(
      [
        '# HELP calls_total Calls.',
        '# TYPE calls_total counter',
        'calls_total{method="A",outcome="ok"} 2',
        'calls_total{method="B",outcome="say \\"hi\\"\\n"} 1',
        '# HELP latency_seconds Latency.',
        '# TYPE latency_seconds histogram',
        'latency_seconds_bucket{method="A",le="0.01"} 1',
        'latency_seconds_bucket{method="A",le="0.1"} 2',
        'latency_seconds_bucket{method="A",le="+Inf"} 3',
        'latency_seconds_sum{method="A"} 5.055',
        'latency_seconds_count{method="A"} 3',
        '# HELP depth Depth.',
        '# TYPE depth gauge',
        'depth 7',
        '',
      ].join('\n'),
    );
  });
});
