import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** The port a URL without one means. */
const DEFAULT_PORTS: Record<string, number> = {
  'postgres:': 5432,
  'postgresql:': 5432,
  'redis:': 6379,
};

export interface TcpProxyOptions {
  /** Whether a new connection is refused (reset at once) rather than forwarded. */
  refuse?: () => boolean;
  /**
   * What becomes of a chunk the server sends: given, the proxy writes nothing itself (the hook
   * writes the chunk to `client`, or ends the connection its own way).
   */
  fromServer?: (chunk: Buffer, client: Socket, upstream: Socket) => void;
  /** The same for a chunk the client sends (the hook writes it to `upstream`, or keeps it). */
  fromClient?: (chunk: Buffer, client: Socket, upstream: Socket) => void;
}

export interface TcpProxy {
  /** `url` with its host and port the proxy's. */
  url: string;
  /** Every client connection reset (RST), as a failed host or network leaves it. */
  resetAll(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy in front of the server of `url` (a PostgreSQL or Redis URL), through which
 * a test makes the faults a real server or network would: connections reset or refused, or what
 * the server sends rewritten (`fromServer`).
 */
export async function tcpProxy(url: string, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const target = new URL(url);
  const sockets = new Set<Socket>();
  /** The clients' ends, as against the proxy's own connections to the server. */
  const accepted = new WeakSet<Socket>();
  const server = createServer((client) => {
    if (options.refuse?.()) return void client.resetAndDestroy();
    accepted.add(client);
    const upstream = connect(
      Number(target.port || DEFAULT_PORTS[target.protocol]),
      target.hostname,
    );
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    const fromClient = options.fromClient;
    if (fromClient) client.on('data', (chunk: Buffer) => fromClient(chunk, client, upstream));
    else client.pipe(upstream);
    const fromServer = options.fromServer;
    if (fromServer) upstream.on('data', (chunk: Buffer) => fromServer(chunk, client, upstream));
    else upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxied = new URL(url);
  proxied.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: proxied.toString(),
    resetAll: () => {
      for (const socket of sockets) if (accepted.has(socket)) socket.resetAndDestroy();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
