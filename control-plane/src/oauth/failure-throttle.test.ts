import { describe, expect, it } from 'vitest';
import { createFailureThrottle } from './failure-throttle.js';
import { isThrottleableAddress, sourceAddress } from './source-address.js';

describe('failure throttle', () => {
  it('blocks a key after 10 failures in 60 s until the window has passed', () => {
    let now = 1_000_000;
    const throttle = createFailureThrottle({ now: () => now });
    for (let i = 0; i < 9; i++) throttle.recordFailure(['client:a']);
    expect(throttle.blockedForMs(['client:a'])).toBe(0);
    now += 5_000;
    throttle.recordFailure(['client:a']);
    expect(throttle.blockedForMs(['client:a'])).toBe(55_000);
    expect(throttle.blockedForMs(['client:b'])).toBe(0);
    // Any blocked key blocks the attempt.
    expect(throttle.blockedForMs(['client:b', 'client:a'])).toBe(55_000);
    now += 55_000;
    expect(throttle.blockedForMs(['client:a'])).toBe(0);
    // A fresh window starts from zero.
    throttle.recordFailure(['client:a']);
    expect(throttle.blockedForMs(['client:a'])).toBe(0);
  });

  it('failures spread over more than a window do not add up', () => {
    let now = 0;
    const throttle = createFailureThrottle({ now: () => now, maxFailures: 3, windowMs: 1000 });
    throttle.recordFailure(['k']);
    throttle.recordFailure(['k']);
    now = 1000;
    throttle.recordFailure(['k']);
    expect(throttle.blockedForMs(['k'])).toBe(0);
  });

  it('keeps at most maxKeys windows, so invented keys cannot exhaust memory', () => {
    const now = 0;
    const throttle = createFailureThrottle({ now: () => now, maxFailures: 1, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) throttle.recordFailure([key]);
    // The oldest window was forgotten to make room; the newest are still counted.
    expect(throttle.blockedForMs(['a'])).toBe(0);
    expect(throttle.blockedForMs(['d'])).toBeGreaterThan(0);
  });
});

describe('source address', () => {
  const xff = new Headers({ 'x-forwarded-for': '203.0.113.7, 10.0.0.1' });

  it('believes the first X-Forwarded-For hop only from a loopback peer', () => {
    expect(sourceAddress(xff, '127.0.0.1')).toBe('203.0.113.7');
    expect(sourceAddress(xff, '::1')).toBe('203.0.113.7');
    expect(sourceAddress(xff, '198.51.100.2')).toBe('198.51.100.2');
    expect(sourceAddress(new Headers(), '198.51.100.2')).toBe('198.51.100.2');
    expect(sourceAddress(xff, undefined)).toBe('unknown');
    expect(sourceAddress(new Headers({ 'x-forwarded-for': '<script>' }), '127.0.0.1')).toBe('127.0.0.1');
  });

  it('does not throttle the shared addresses of a local proxy or an unknown peer', () => {
    expect(isThrottleableAddress('203.0.113.7')).toBe(true);
    expect(isThrottleableAddress('127.0.0.1')).toBe(false);
    expect(isThrottleableAddress('::1')).toBe(false);
    expect(isThrottleableAddress('unknown')).toBe(false);
  });
});
