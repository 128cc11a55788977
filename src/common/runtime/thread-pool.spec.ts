import { THREADS_BESIDE_IMAGES, threadPoolSize } from './thread-pool';

describe(threadPoolSize.name, () => {
  it('keeps threads for file work beside the images processed at once', () => {
    expect(threadPoolSize({ IMAGE_PROCESSING_CONCURRENCY: '6' }, 2)).toBe(
      String(6 + THREADS_BESIDE_IMAGES),
    );
    expect(threadPoolSize({ IMAGE_PROCESSING_CONCURRENCY: ' 64 ' }, 2)).toBe('68');
  });

  it('counts the default concurrency (the cores, at most 64) when none or no valid one is set', () => {
    expect(threadPoolSize({}, 8)).toBe('12');
    expect(threadPoolSize({ IMAGE_PROCESSING_CONCURRENCY: '' }, 128)).toBe('68');
    for (const invalid of ['0', '-3', 'four', '1e3', '99999']) {
      expect(threadPoolSize({ IMAGE_PROCESSING_CONCURRENCY: invalid }, 2)).toBe('6');
    }
  });

  it("leaves an operator's own UV_THREADPOOL_SIZE alone", () => {
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: '3', IMAGE_PROCESSING_CONCURRENCY: '6' })).toBe(
      undefined,
    );
  });
});
