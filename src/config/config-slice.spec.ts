import { EnvironmentVariables } from './env.validation';
import { pickConfig } from './config-slice';

describe('pickConfig', () => {
  it('copies only the named variables, frozen', () => {
    const env = Object.assign(new EnvironmentVariables(), { PORT: 3000, DATA_DIR: '/data' });
    const slice = pickConfig(env, ['PORT']);
    expect(slice).toEqual({ PORT: 3000 });
    expect('DATA_DIR' in slice).toBe(false);
    expect(Object.isFrozen(slice)).toBe(true);
  });
});
