import { connect, type Socket } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { closeConnectionsOnUnreadBodies } from './unread-body-close';

const BODY_BYTES = 32 * 1024 * 1024;

/** What a client that sent a large body, and read nothing for `readAfterMs`, got back. */
interface LateReader {
  received: string;
  /** Body bytes the server process took off its socket, whether parsed or not. */
  serverBytesRead: number;
}

/**
 * Sends a PUT announcing and writing a 32 MiB body (far more than the kernel buffers hold, so
 * the client is still sending when it is answered), reads nothing for `readAfterMs`, as a client
 * of a busy machine that is not scheduled meanwhile, then reads whatever came.
 */
function sendThenReadLate(
  app: FastifyInstance,
  port: number,
  readAfterMs: number,
): Promise<LateReader> {
  let serverSocket: Socket | undefined;
  app.server.once('connection', (socket: Socket) => (serverSocket = socket));
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    // A reset (or a write into one) is what a lost answer looks like: the test reads `received`.
    socket.on('error', () => undefined);
    socket.on('close', () =>
      resolve({ received, serverBytesRead: serverSocket?.bytesRead ?? Number.NaN }),
    );
    socket.on('connect', () => {
      socket.write(`PUT /refused HTTP/1.1\r\nhost: a\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`);
      socket.write(Buffer.alloc(BODY_BYTES, 'A'));
      socket.pause();
      setTimeout(() => socket.resume(), readAfterMs);
    });
  });
}

describe(closeConnectionsOnUnreadBodies.name, () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = Fastify();
    closeConnectionsOnUnreadBodies(app);
    // Refused on its headers, as the pre-body credential check refuses.
    app.addHook('onRequest', async (_request, reply) => {
      await reply.code(401).send({ code: 'authentication_required' });
    });
    app.put('/refused', async () => ({ unreachable: true }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(() => app.close());

  it('keeps the answer for a client still sending that reads it 3 s late (within nginx’s 5 s lingering_timeout)', async () => {
    const client = await sendThenReadLate(app, port, 3000);
    expect(client.received).toMatch(/^HTTP\/1\.1 401 /);
    expect(client.received).toMatch(/\r\nconnection: close\r\n/i);
    expect(client.received).toContain('"code":"authentication_required"');
  }, 20_000);

  it('reads (next to) none of the body while it lingers, however long the client goes on sending', async () => {
    const client = await sendThenReadLate(app, port, 3000);
    // What the kernel buffers took before the answer, at most: never the 32 MiB that were sent.
    expect(client.serverBytesRead).toBeLessThan(4 * 1024 * 1024);
  }, 20_000);
});
