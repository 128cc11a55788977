import { Module, type LoggerService } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { loadAppConfig } from '../config/app-config.module';
import { withCliContext } from '../database/cli-context';
import { AccountsService } from './accounts.service';
import { ApiKeyRevocationsRepository } from './api-key-revocations.repository';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import { LoginAddressesRepository } from './login-addresses.repository';
import { PasswordHasher } from './password-hasher';

/**
 * AccountsService and what it needs, alone: not AuthModule, whose logins (JWT keys, Passport, the
 * login limits and their Redis, the controllers) no command uses. A password reset in an outage of
 * that Redis worked in none, each run opened a connection it never used, and loading it all cost
 * each run a fifth of its CPU.
 */
@Module({
  imports: [TypeOrmModule.forFeature([Organization, User, ApiKey])],
  providers: [
    AccountsService,
    PasswordHasher,
    LoginAddressesRepository,
    ApiKeyRevocationsRepository,
  ],
})
class AccountsCliModule {}

/**
 * The accounts' stack (configuration, database, AccountsService) for a CLI command whose options
 * were checked: loaded by the CLI only then, so that a usage error or --help costs no database
 * code.
 */
export async function withAccounts(
  logger: LoggerService,
  work: (accounts: AccountsService, database: DataSource) => Promise<void>,
): Promise<void> {
  await withCliContext(await loadAppConfig(), AccountsCliModule, logger, (app) =>
    work(app.get(AccountsService), app.get(DataSource)),
  );
}
