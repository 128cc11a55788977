import type { EntityManager } from 'typeorm';
import { ProductImagesPort, type ProductImages } from './product-images.port';

const manager = {} as EntityManager;
const a = { id: 'a', imageCount: 0 };
const b = { id: 'b', imageCount: 3 };
const owned = { id: 'a', organizationId: 'o' };

describe(ProductImagesPort.name, () => {
  it('answers no image and the kept count while nothing is registered', async () => {
    const port = new ProductImagesPort();
    const images = await port.of([a, b]);
    expect([...images]).toEqual([
      ['a', { primary: null, count: 0 }],
      ['b', { primary: null, count: 3 }],
    ]);
    await expect((await port.releaseOnDelete(manager, owned))()).resolves.toBeUndefined();
  });

  it('asks the registered implementation, leaving out the products it no longer finds', async () => {
    const primary = { id: 'i', url: 'u', alt_text: '', width: 1, height: 1, renditions: {} };
    const afterCommit = jest.fn(async () => {});
    const impl: ProductImages = {
      of: jest.fn(async () => new Map([['a', { primary, count: 2 }]])),
      releaseOnDelete: jest.fn(async () => afterCommit),
    };
    const port = new ProductImagesPort();
    port.register(impl);
    const images = await port.of([a, b]);
    expect(impl.of).toHaveBeenCalledWith([a, b]);
    expect(images.get('a')).toEqual({ primary, count: 2 });
    expect(images.has('b')).toBe(false);
    await (
      await port.releaseOnDelete(manager, owned)
    )();
    expect(impl.releaseOnDelete).toHaveBeenCalledWith(manager, owned);
    expect(afterCommit).toHaveBeenCalledTimes(1);
  });

  it('does not query for an empty page', async () => {
    const impl: ProductImages = { of: jest.fn(), releaseOnDelete: jest.fn() };
    const port = new ProductImagesPort();
    port.register(impl);
    expect((await port.of([])).size).toBe(0);
    expect(impl.of).not.toHaveBeenCalled();
  });

  it('refuses a second implementation', () => {
    const port = new ProductImagesPort();
    port.register({ of: jest.fn(), releaseOnDelete: jest.fn() });
    expect(() => port.register({ of: jest.fn(), releaseOnDelete: jest.fn() })).toThrow(
      /already registered/,
    );
  });
});
