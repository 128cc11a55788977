import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { AUTH_CONFIG, type AuthConfig } from './auth.config';
import { authenticationChallenge } from './challenge';
import type { AccessTokenDto, LoginDto } from './dto/login.dto';
import { clientNetwork } from './client-network';
import { canonicalEmail } from './email-address';
import { User } from './entities/user.entity';
import { LoginAddressesRepository } from './login-addresses.repository';
import { PasswordHasher } from './password-hasher';
import type { AccessTokenClaims } from './strategies/jwt.strategy';

/** `POST /api/v1/auth/login`: a password for a JWT. Its limits are LoginThrottlerGuard's. */
@Injectable()
export class LoginService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    private readonly addresses: LoginAddressesRepository,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  /**
   * An unknown account, a wrong password and a disabled account are indistinguishable: the same
   * error, and the same work (an Argon2 verification against a decoy hash when there is no user).
   */
  async login(credentials: LoginDto, address: string): Promise<AccessTokenDto> {
    const user = await this.users.findOneBy(
      credentials.email !== undefined
        ? { email: canonicalEmail(credentials.email) }
        : { username: (credentials.username ?? '').trim().toLowerCase() },
    );
    const passwordOk = await this.hasher.verify(user?.passwordHash, credentials.password);
    if (!user || !passwordOk || user.disabled) throw invalidLogin();
    const token = await this.issue(user, address);
    if (!token) throw invalidLogin();
    return token;
  }

  /**
   * A token for `user`, who proved their password from `address`, in the session generation read
   * (a password change's answer too). Attempts from there now count apart from others' for this
   * account (the login limit), by network, as the login limits count it (an IPv6 client's /64).
   * Only if the account is still as read: deleted, disabled or given a new password meanwhile,
   * null (the token would be refused at once).
   */
  async issue(user: User, address: string): Promise<AccessTokenDto | null> {
    const network = clientNetwork(address);
    if (!(await this.addresses.remember(user.id, network, user.sessionGeneration))) return null;
    const claims: AccessTokenClaims = {
      sub: user.id,
      org: user.organizationId,
      gen: user.sessionGeneration,
    };
    const access_token = await this.jwt.signAsync(claims, {
      expiresIn: this.config.JWT_TTL_SECONDS,
    });
    return {
      access_token,
      token: access_token,
      token_type: 'Bearer',
      expires_in: this.config.JWT_TTL_SECONDS,
    };
  }
}

/** Whatever the reason (no such account, a wrong password, a disabled account): the same 401. */
function invalidLogin(): AppError {
  return new AppError(
    'invalid_login',
    'The email, username or password is wrong.',
    [],
    authenticationChallenge(),
  );
}
