import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { EnvironmentVariables } from '../config/env.validation';
import { AccountsService, generatePassword } from './accounts.service';
import { User } from './entities/user.entity';
import { Role } from './roles';

const BOOTSTRAP_LOCK_KEY = 727_364_211;
export const DEFAULT_ORGANIZATION_SLUG = 'default';
export const DEFAULT_ADMIN_EMAIL = 'admin@example.com';

/**
 * On the first start with an empty database: an organisation and an administrator, from
 * ADMIN_EMAIL/ADMIN_PASSWORD, or with a generated password printed once to the console. Runs under
 * an advisory lock, so several instances starting together create exactly one.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Bootstrap');

  constructor(
    private readonly dataSource: DataSource,
    private readonly accounts: AccountsService,
    private readonly env: EnvironmentVariables,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const generated = this.env.ADMIN_PASSWORD ? undefined : generatePassword();
    const password = this.env.ADMIN_PASSWORD ?? generated!;
    const email = this.env.ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL;
    const created = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [BOOTSTRAP_LOCK_KEY]);
      if ((await manager.count(User)) > 0) return false;
      // The CLI may have made it already (an API key before the first start).
      const organization = await this.accounts.findOrCreateOrganization(
        DEFAULT_ORGANIZATION_SLUG,
        'Default organization',
        manager,
      );
      await this.accounts.createUser(
        organization.id,
        { email, username: 'admin', fullName: 'Administrator', password, role: Role.Admin },
        manager,
      );
      return true;
    });
    if (!created) return;
    this.logger.log(`Created the first administrator (${email}) in organisation "default"`);
    if (generated) {
      // Deliberately the console, not the log stream, and only this once: it is never shown again.
      process.stdout.write(
        [
          '',
          '================================================================',
          ' First start: an administrator was created.',
          `   email:    ${email}   (username: admin)`,
          `   password: ${generated}`,
          ' This password is shown only now. Log in and change it, or set',
          ' ADMIN_EMAIL and ADMIN_PASSWORD before the first start.',
          '================================================================',
          '',
        ].join('\n') + '\n',
      );
    }
  }
}
