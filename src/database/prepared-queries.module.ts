import { Module } from '@nestjs/common';
import { databaseConfigProvider } from './database.config';
import { PreparedQueries } from './prepared-queries';

/** {@link PreparedQueries}, for the repositories whose reads every request makes. */
@Module({
  providers: [PreparedQueries, databaseConfigProvider],
  exports: [PreparedQueries],
})
export class PreparedQueriesModule {}
