import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { credentialGoneMeanwhile } from './challenge';
import type { AccessTokenDto } from './dto/login.dto';
import type { ChangePasswordDto } from './dto/password.dto';
import { User } from './entities/user.entity';
import { LoginAddressesRepository } from './login-addresses.repository';
import { LoginService } from './login.service';
import { PasswordHasher } from './password-hasher';
import type { RequestContext } from './principal';
import { endedSessions, sessionEnded, sessionUserId } from './sessions';

/**
 * `POST /api/v1/auth/password`: a logged-in user changes their own password. Its limits are the
 * login's (PasswordChangeThrottlerGuard); what it changes is what an admin's change does.
 */
@Injectable()
export class PasswordChangeService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly hasher: PasswordHasher,
    private readonly addresses: LoginAddressesRepository,
    private readonly logins: LoginService,
  ) {}

  /**
   * Checks the current password (with the hasher, in constant time), then sets the new one and
   * ends every session of the user, as an admin's change does: every token issued until now is
   * refused, and the addresses they logged in from are forgotten (LoginAddressesRepository.forget).
   * Answers a token of the new session, from `address`, as a login would.
   */
  async change(
    ctx: RequestContext,
    dto: ChangePasswordDto,
    address: string,
  ): Promise<AccessTokenDto> {
    const userId = sessionUserId(ctx.principal, 'Changing your password');
    const gone = () => credentialGoneMeanwhile('user');
    const user = await this.users.findOneBy(ctx.scoped({ id: userId }));
    const session = ctx.principal.session;
    if (!user || user.disabled || (session && sessionEnded(session, user))) throw gone();
    if (!(await this.hasher.verify(user.passwordHash, dto.current_password))) {
      throw new AppError('wrong_current_password', 'The current password is wrong.', [
        { field: 'current_password', message: 'is not your password' },
      ]);
    }
    // Only once the current one is proved (so it tells nothing of the stored one): a change to
    // the same password would end every session for nothing. The attempt counted, as any other.
    if (dto.new_password === dto.current_password) {
      throw new AppError('password_unchanged', 'The new password is the current one.', [
        { field: 'new_password', message: 'is your current password' },
      ]);
    }
    const passwordHash = await this.hasher.hash(dto.new_password);
    const changed = await this.users.manager.transaction(async (manager) => {
      // Only the account as verified: not disabled, nor its sessions ended (its password changed
      // by an admin, a logout) meanwhile, which refuse this session's token from then on.
      const result = await manager.update(
        User,
        ctx.scoped({ id: user.id, disabled: false, sessionGeneration: user.sessionGeneration }),
        { passwordHash, ...endedSessions() },
      );
      if (!result.affected) return null;
      await this.addresses.forget(manager, user.id);
      return manager.findOneBy(User, { id: user.id });
    });
    const token = changed && (await this.logins.issue(changed, address));
    if (!token) throw gone();
    return token;
  }
}
