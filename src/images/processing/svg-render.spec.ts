import { childProcesses } from '../../../test/support/process';
import { renderSvg, SvgRenderError, type SvgRenderLimits } from './svg-render';

/** Real child processes (svg-render.child.cjs, with sharp and librsvg): nothing is mocked. */

const LIMITS: SvgRenderLimits = { maxPixels: 40_000_000, timeoutMs: 60_000, maxBytes: 1024 ** 3 };

function svg(width: number, height: number, body: string): Buffer {
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`,
  );
}

/** 40,000 characters on one line of text: about 100 s of librsvg's time (measured here). */
const SLOW = svg(200, 200, `<text y="20">${'x'.repeat(40_000)}</text>`);
/** A 6000×6000 rectangle blurred wide: each filter surface alone is 144 MB. */
const GREEDY = svg(
  6000,
  6000,
  '<filter id="f"><feGaussianBlur stdDeviation="200"/></filter>' +
    '<rect width="6000" height="6000" fill="red" filter="url(#f)"/>',
);

async function failure(promise: Promise<unknown>): Promise<SvgRenderError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SvgRenderError))
    throw new Error(`expected SvgRenderError: ${String(error)}`);
  return error;
}

/** This process's children still running svg-render.child.cjs. */
const renderChildren = (): number[] => childProcesses(process.pid, 'svg-render.child.cjs');

describe(renderSvg.name, () => {
  it('renders an SVG to sRGB pixels at its own size', async () => {
    const rendered = await renderSvg(
      svg(
        40,
        20,
        '<rect width="20" height="20" fill="#ff0000"/><rect x="20" width="20" height="20" fill="#0000ff"/>',
      ),
      LIMITS,
    );
    expect(rendered).toMatchObject({ width: 40, height: 20, channels: 4 });
    const at = (x: number, y: number): number[] => {
      const i = (y * 40 + x) * 4;
      return [...rendered.data!.subarray(i, i + 4)];
    };
    expect(at(5, 10)).toEqual([255, 0, 0, 255]);
    expect(at(35, 10)).toEqual([0, 0, 255, 255]);
  });

  it('measures an SVG larger than maxPixels without rendering it', async () => {
    const rendered = await renderSvg(svg(3000, 2000, '<rect width="10" height="10"/>'), {
      ...LIMITS,
      maxPixels: 5_000_000,
    });
    expect(rendered).toEqual({ width: 3000, height: 2000, channels: 4 });
  });

  it('kills a render that passes the deadline, leaving no process behind', async () => {
    const error = await failure(renderSvg(SLOW, { ...LIMITS, timeoutMs: 1000 }));
    expect(error.reason).toBe('timeout');
    expect(renderChildren()).toEqual([]);
  });

  it('kills a render at once when its signal aborts (its requests gone), rejecting with the reason', async () => {
    const gone = new AbortController();
    const rendering = renderSvg(SLOW, { ...LIMITS, timeoutMs: 5000 }, gone.signal).catch(
      (error: unknown) => error,
    );
    // Under way: its process started (sharp loaded, then the render of a 100 s SVG).
    while (renderChildren().length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const reason = new Error('every request for the result has gone');
    gone.abort(reason);
    expect(await rendering).toBe(reason);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(renderChildren()).toEqual([]);
    // Aborted before it starts: no process at all.
    const before = AbortSignal.abort(reason);
    expect(await renderSvg(SLOW, LIMITS, before).catch((error: unknown) => error)).toBe(reason);
    expect(renderChildren()).toEqual([]);
  });

  it('kills a render whose memory passes the ceiling, long before the deadline', async () => {
    const error = await failure(renderSvg(GREEDY, { ...LIMITS, maxBytes: 256 * 1024 ** 2 }));
    expect(error.reason).toBe('memory');
    expect(renderChildren()).toEqual([]);
  });

  it.each([
    ['not XML', Buffer.from('not an svg at all')],
    ['nothing', Buffer.alloc(0)],
  ])('answers unreadable for %s', async (_name, input) => {
    expect((await failure(renderSvg(input, LIMITS))).reason).toBe('unreadable');
  });

  it.each([
    ['width="0"', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="0"/>')],
    ['height="0.4"', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" height="0.4"/>')],
  ])('answers subpixel for an SVG of %s: none of its size is a whole pixel', async (_n, input) => {
    expect((await failure(renderSvg(input, LIMITS))).reason).toBe('subpixel');
  });

  it('renders several SVGs at once, each in its own process', async () => {
    const sizes = [10, 20, 30, 40];
    const rendered = await Promise.all(
      sizes.map((size) => renderSvg(svg(size, size, '<circle r="5"/>'), LIMITS)),
    );
    expect(rendered.map((r) => r.width)).toEqual(sizes);
    expect(renderChildren()).toEqual([]);
  });
});
