import { EnvironmentVariables } from './env.validation';
import { configSliceOf, pickConfig } from './config-slice';

describe('pickConfig', () => {
  it('copies only the named variables, frozen', () => {
    const env = Object.assign(new EnvironmentVariables(), { PORT: 3000, DATA_DIR: '/data' });
    const slice = pickConfig(env, ['PORT']);
    expect(slice).toEqual({ PORT: 3000 });
    expect('DATA_DIR' in slice).toBe(false);
    expect(Object.isFrozen(slice)).toBe(true);
  });
});

describe('configSliceOf', () => {
  it('gives the same slice for the same environment and settings, another for another environment', () => {
    const keys = ['PORT'] as const;
    const env = new EnvironmentVariables();
    expect(configSliceOf(env, keys)).toBe(configSliceOf(env, keys));
    expect(configSliceOf(env, keys)).toEqual({ PORT: env.PORT });
    expect(configSliceOf(new EnvironmentVariables(), keys)).not.toBe(configSliceOf(env, keys));
  });
});
