export interface Address {
  host: string;
  port: number;
}

/** Parses `host:port`, `[v6]:port` or `:port`; returns an error message instead of throwing. */
export function parseAddress(value: string): Address | string {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (!match) return `expected host:port or [ipv6]:port, got "${value}"`;
  const port = Number(match[3]);
  if (port > 65535) return `port ${port} is out of range`;
  const host = match[1] ?? (match[2] || '0.0.0.0');
  return { host, port };
}

export function formatAddress({ host, port }: Address): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An address to connect to: a wildcard bind address is reached through loopback. */
export function connectableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

export function httpUrl(address: Address): string {
  return `http://${formatAddress({ ...address, host: connectableHost(address.host) })}`;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '::ffff:127.0.0.1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}
