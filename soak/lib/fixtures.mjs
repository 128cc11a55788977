// The images the soak sends, made with sharp at start-up (small, so the soak measures the
// service's bookkeeping rather than its codecs), and a loopback HTTP server that serves them to
// bulk imports (/<n>.jpg).
import { createServer } from 'node:http';
import sharp from 'sharp';

const VARIANTS = 8;

export class Fixtures {
  images = [];

  async make() {
    for (let i = 0; i < VARIANTS; i++) {
      const input = {
        create: {
          width: 320 + i * 40,
          height: 240 + i * 30,
          channels: 3,
          background: { r: (i * 53) % 256, g: (i * 97) % 256, b: (i * 31) % 256 },
        },
      };
      const png = i % 2 === 1;
      const bytes = png
        ? await sharp(input).png().toBuffer()
        : await sharp(input).jpeg({ quality: 80 }).toBuffer();
      this.images.push({ bytes, type: png ? 'image/png' : 'image/jpeg', ext: png ? 'png' : 'jpg' });
    }
  }

  /** Starts the server; resolves with its origin. */
  async listen() {
    await this.make();
    this.server = createServer((req, res) => {
      const image = this.images[Number(/^\/(\d+)\./.exec(req.url ?? '')?.[1] ?? -1)];
      if (!image) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': image.type, 'content-length': image.bytes.length });
      res.end(image.bytes);
    });
    await new Promise((done) => this.server.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  pick(next) {
    return this.images[Math.floor(next() * this.images.length)];
  }

  async close() {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }
}
