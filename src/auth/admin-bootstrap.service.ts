import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AccountsService } from './accounts.service';
import { ADMIN_BOOTSTRAP_CONFIG, type AdminBootstrapConfig } from './admin-bootstrap.config';
import { DEFAULT_ORGANIZATION_SLUG } from './default-organization';
import { generatePassword } from './generated-password';
import { User } from './entities/user.entity';
import { Role } from './roles';

const BOOTSTRAP_LOCK_KEY = 727_364_211;
export const DEFAULT_ADMIN_EMAIL = 'admin@example.com';
export const FIRST_ADMIN_USERNAME = 'admin';

/**
 * On the first start with an empty database: an organisation and an administrator, from
 * ADMIN_EMAIL/ADMIN_PASSWORD, or with a generated password printed once to the console. Runs under
 * an advisory lock, so several instances starting together create exactly one.
 *
 * When: a generated password exists only on this process's console, so it must not be printed by
 * a start that then fails (the port in use, say) and scrolls it away: the administrator would
 * exist with a password nobody has. So without ADMIN_PASSWORD the administrator is created only
 * once the service listens: `main.ts` calls {@link ensureFirstAdministrator} after `listen`, and a
 * start that fails before that creates nothing; the next one creates it and prints the password.
 * With ADMIN_PASSWORD nothing can be lost (the operator holds the password), so it is created at
 * bootstrap as before: applications built by `createApp` without listening (the tests, the
 * OpenAPI export) start with their administrator. `npm run -s cli -- reset-password` is the way back
 * if a password is lost all the same.
 */
@Injectable()
export class AdminBootstrapService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Bootstrap');

  constructor(
    private readonly dataSource: DataSource,
    private readonly accounts: AccountsService,
    @Inject(ADMIN_BOOTSTRAP_CONFIG) private readonly config: AdminBootstrapConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ADMIN_PASSWORD) await this.ensureFirstAdministrator();
  }

  /**
   * Creates the first administrator if there is no user at all; does nothing otherwise, so it is
   * safe to call on every start. A generated password is printed here, and only here.
   */
  async ensureFirstAdministrator(): Promise<void> {
    const generated = this.config.ADMIN_PASSWORD ? undefined : generatePassword();
    const email = this.config.ADMIN_EMAIL ?? DEFAULT_ADMIN_EMAIL;
    const created = await this.createIfNoUsers(email, this.config.ADMIN_PASSWORD ?? generated!);
    if (!created) return;
    this.logger.log(`Created the first administrator (${email}) in organisation "default"`);
    if (generated) printGeneratedPassword(email, generated);
  }

  private createIfNoUsers(email: string, password: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
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
        {
          email,
          username: FIRST_ADMIN_USERNAME,
          fullName: 'Administrator',
          password,
          role: Role.Admin,
        },
        manager,
      );
      return true;
    });
  }
}

/** Deliberately the console, not the log stream, and only this once: it is never shown again. */
function printGeneratedPassword(email: string, password: string): void {
  process.stdout.write(
    [
      '',
      '================================================================',
      ' First start: an administrator was created.',
      `   email:    ${email}   (username: ${FIRST_ADMIN_USERNAME})`,
      `   password: ${password}`,
      ' This password is shown only now. Log in and change it, or set',
      ' ADMIN_EMAIL and ADMIN_PASSWORD before the first start. Lost it? With',
      ` the service stopped: npm run -s cli -- reset-password --user ${FIRST_ADMIN_USERNAME}`,
      '================================================================',
      '',
    ].join('\n') + '\n',
  );
}
