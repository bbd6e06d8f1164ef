import { expect } from 'chai';
import { Registry } from 'prom-client';
import { RequestHistogram } from '../../src/http/request-histogram.ts';

describe('RequestHistogram', () => {
  function setUp(): { registry: Registry; histogram: RequestHistogram } {
    const registry = new Registry();
    const histogram = new RequestHistogram(registry, 'test_seconds', 'Test latency', [0.5, 0.1, 1]);
    return { registry, histogram };
  }

  it('prints Prometheus buckets: cumulative, "less than or equal", +Inf, sum and count', async () => {
    const { registry, histogram } = setUp();
    for (const seconds of [0.05, 0.1, 0.3, 1, 7]) histogram.observe('GET', '/a', 200, seconds);
    histogram.observe('POST', '/a', 403, 0.2);
    const text = await registry.metrics();
    const lines = text.split('\n');
    expect(lines).to.include.members([
      '# HELP test_seconds Test latency',
      '# TYPE test_seconds histogram',
      'test_seconds_bucket{method="GET",route="/a",status="200",le="0.1"} 2',
      'test_seconds_bucket{method="GET",route="/a",status="200",le="0.5"} 3',
      'test_seconds_bucket{method="GET",route="/a",status="200",le="1"} 4',
      'test_seconds_bucket{method="GET",route="/a",status="200",le="+Inf"} 5',
      'test_seconds_sum{method="GET",route="/a",status="200"} 8.45',
      'test_seconds_count{method="GET",route="/a",status="200"} 5',
      'test_seconds_bucket{method="POST",route="/a",status="403",le="0.1"} 0',
      'test_seconds_bucket{method="POST",route="/a",status="403",le="0.5"} 1',
      'test_seconds_count{method="POST",route="/a",status="403"} 1',
    ]);
  });

  it('escapes label values and forgets everything on reset', async () => {
    const { registry, histogram } = setUp();
    histogram.observe('GET', '/a"b\\c', 404, 0.01);
    expect(await registry.metrics()).to.include('route="/a\\"b\\\\c"');
    registry.resetMetrics();
    expect(await registry.metrics()).not.to.include('test_seconds_count');
  });

  it('refuses a second metric of the same name in one registry', () => {
    const { registry } = setUp();
    expect(() => new RequestHistogram(registry, 'test_seconds', 'again', [1])).to.throw(
      /already been registered/,
    );
  });
});
