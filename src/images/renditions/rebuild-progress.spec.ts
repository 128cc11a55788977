import { isOver, progressLine } from './rebuild-progress';
import { RebuildState } from './rendition-rebuild.entity';

describe(progressLine.name, () => {
  it('draws the share of images done or failed, with the counts and the state', () => {
    expect(
      progressLine({ state: RebuildState.Running, total: 1000, done: 598, failed: 2 }, 10),
    ).toBe('[######----]  60%  598/1000 done, 2 failed, running');
  });

  it('is empty before any image is queued, and full once a run with none is over', () => {
    expect(progressLine({ state: RebuildState.Planning, total: 0, done: 0, failed: 0 }, 4)).toBe(
      '[----]   0%  0/0 done, 0 failed, planning',
    );
    expect(progressLine({ state: RebuildState.Completed, total: 0, done: 0, failed: 0 }, 4)).toBe(
      '[####] 100%  0/0 done, 0 failed, completed',
    );
  });

  it('never draws more than a full bar, even when a retried image was counted twice', () => {
    expect(progressLine({ state: RebuildState.Completed, total: 3, done: 4, failed: 0 }, 3)).toBe(
      '[###] 100%  4/3 done, 0 failed, completed',
    );
  });
});

describe(isOver.name, () => {
  it('holds for completed and superseded runs only', () => {
    expect(
      ['planning', 'running', 'completed', 'superseded'].filter((state) =>
        isOver({ state } as never),
      ),
    ).toEqual(['completed', 'superseded']);
  });
});
