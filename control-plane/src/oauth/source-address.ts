import { isLoopbackHost } from '@cpod/runtime';

export const UNKNOWN_ADDRESS = 'unknown';

/**
 * The address a request came from. `X-Forwarded-For` is believed only when the peer is on
 * loopback (the gateway proxying on the same host); from anywhere else it is whatever the
 * caller wrote, so the socket address is used instead.
 */
export function sourceAddress(headers: Headers, peer: string | undefined): string {
  if (peer && isLoopbackHost(peer)) {
    const first = headers.get('x-forwarded-for')?.split(',')[0]?.trim();
    if (first && /^[0-9A-Fa-f:.[\]]{2,64}$/.test(first)) return first;
  }
  return peer || UNKNOWN_ADDRESS;
}

/**
 * Whether failures from this address may be throttled. A loopback peer without a forwarded
 * address is a local proxy (the gateway forwards every client through one connection address)
 * or a local tool, and "unknown" is everyone at once: blocking either would lock out every
 * client behind it, so those are throttled by their other keys only.
 */
export function isThrottleableAddress(address: string): boolean {
  return address !== UNKNOWN_ADDRESS && !isLoopbackHost(address);
}

/** The peer address the node server put into Hono's bindings (see server.ts); absent in-process. */
export function peerAddress(env: unknown): string | undefined {
  const value = (env as { remoteAddress?: unknown } | undefined)?.remoteAddress;
  return typeof value === 'string' && value !== '' ? value : undefined;
}
