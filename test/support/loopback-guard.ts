import * as net from 'node:net';

/**
 * A guard for tests that make the service fetch URLs: installed on net.Socket#connect (with
 * `jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(guardedConnect)`), it fails any
 * connection to a non-loopback address (ECONNREFUSED) before a packet is sent, and records every
 * attempt, so that tests can prove a refused URL was refused before connecting at all.
 */

export interface ConnectAttempt {
  host: string;
  addresses: string[];
  port?: number;
}

/** Every connection attempt since the last `connects.length = 0`. */
export const connects: ConnectAttempt[] = [];
const realConnect = net.Socket.prototype.connect;

/** Written out, not taken from the policy under test: a bug there must not open this guard. */
export function isLoopback(address: string): boolean {
  return address === '::1' || (net.isIPv4(address) && address.startsWith('127.'));
}

export function guardedConnect(this: net.Socket, ...args: unknown[]): net.Socket {
  const first = args[0];
  const options = (Array.isArray(first) ? first[0] : first) as
    { host?: string; path?: string; lookup?: net.LookupFunction } | number | string | undefined;
  if (typeof options === 'object' && options?.path) {
    // A Unix socket: local by definition.
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  }
  // connect(options), or connect(port[, host]) as some clients (pg) call it.
  const host =
    typeof options === 'object'
      ? (options?.host ?? 'localhost')
      : typeof args[1] === 'string'
        ? args[1]
        : 'localhost';
  let addresses: string[] = [];
  if (net.isIP(host)) {
    addresses = [host];
  } else if (host === 'localhost' && (typeof options !== 'object' || !options.lookup)) {
    // Node's own default host, resolved by /etc/hosts.
    addresses = ['127.0.0.1'];
  } else if (typeof options === 'object' && typeof options?.lookup === 'function') {
    // safeFetch's lookup answers synchronously with the addresses it checked.
    options.lookup(host, { all: true }, (error, answer) => {
      if (!error) addresses = Array.isArray(answer) ? answer.map((a) => a.address) : [answer];
    });
  }
  const rawPort = typeof options === 'object' ? (options as { port?: unknown }).port : options;
  const port = rawPort === undefined ? undefined : Number(rawPort);
  connects.push({ host, addresses, port });
  if (addresses.length > 0 && addresses.every(isLoopback)) {
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  }
  // Never leave the machine. Fail like a refused connection, once http has its listeners on.
  (this as unknown as { connecting: boolean }).connecting = true;
  setImmediate(() =>
    this.destroy(
      Object.assign(new Error(`test guard: no connection to ${host} ${addresses.join(',')}`), {
        code: 'ECONNREFUSED',
      }),
    ),
  );
  return this;
}
