import { Logger } from '@nestjs/common';
import { TypeOrmLogger } from './typeorm.logger';

/** What node-postgres reports of a statement past statement_timeout. */
function cancelled(): Error {
  return Object.assign(new Error('canceling statement due to statement timeout'), {
    code: '57014',
  });
}

describe(TypeOrmLogger.name, () => {
  afterEach(() => jest.restoreAllMocks());

  it('warns of a cancelled statement with its text, each statement once a minute', () => {
    let now = 1_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    // A spy on the logger's output, not a stand-in: the lines are what is under test.
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const logger = new TypeOrmLogger();
    for (let i = 0; i < 5; i++) logger.logQueryError(cancelled(), 'SELECT * FROM pgboss.job');
    logger.logQueryError(cancelled(), 'SELECT 1');
    expect(warn.mock.calls.map(([fields]) => fields)).toEqual([
      expect.objectContaining({ query: 'SELECT * FROM pgboss.job', held_back: 0 }),
      expect.objectContaining({ query: 'SELECT 1', held_back: 0 }),
    ]);
    now += 60_000;
    logger.logQueryError(cancelled(), 'SELECT * FROM pgboss.job');
    expect(warn.mock.calls.at(-1)?.[0]).toMatchObject({ held_back: 4 });
  });

  it('leaves other failures at debug level (a unique violation becomes a 409)', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const debug = jest.spyOn(Logger.prototype, 'debug').mockImplementation(() => undefined);
    new TypeOrmLogger().logQueryError(
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      'INSERT INTO products',
    );
    expect(warn).not.toHaveBeenCalled();
    expect(debug).toHaveBeenCalledTimes(1);
  });
});
