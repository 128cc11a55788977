import { performance } from 'node:perf_hooks';

/** Where {@link ImageStepsTimer} reports each step. */
export type StepObserver = (step: string, format: string, seconds: number) => void;

/**
 * The steps of one image's processing, timed as laps: each `lap(step)` reports the time since the
 * previous one (or since the start) under that step and the format known by then. A clock read
 * and a histogram observation per step: nothing per pixel.
 */
export class ImageStepsTimer {
  /** The source format, once known (jpeg, png, gif, webp, avif, bmp, svg). */
  format = 'unknown';
  private last = performance.now();

  constructor(private readonly observe: StepObserver) {}

  lap(step: string): void {
    const now = performance.now();
    this.observe(step, this.format, (now - this.last) / 1000);
    this.last = now;
  }
}
