import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback server answering every request with `png`, for URL imports to fetch (loopback origins
 * are allowed by the test-only IMPORT_ALLOWED_PRIVATE_ORIGINS setting).
 */
export async function startImageServer(png: Buffer) {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'image/png' }).end(png);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/product.png`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
