import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { encodeShortId } from '../common/ids/short-id';
import type { AccessTokenDto, LoginDto } from './dto/login.dto';
import type { MeDto } from './dto/me.dto';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import { AUTH_CONFIG, type AuthConfig } from './auth.config';
import { PasswordHasher } from './password-hasher';
import type { RequestContext } from './principal';
import type { AccessTokenClaims } from './strategies/jwt.strategy';

@Injectable()
export class AuthService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
    @InjectRepository(Organization) private readonly organizations: Repository<Organization>,
    private readonly hasher: PasswordHasher,
    private readonly jwt: JwtService,
    @Inject(AUTH_CONFIG) private readonly config: AuthConfig,
  ) {}

  /**
   * An unknown account, a wrong password and a disabled account are indistinguishable: the same
   * error, and the same work (an Argon2 verification against a decoy hash when there is no user).
   */
  async login(credentials: LoginDto): Promise<AccessTokenDto> {
    const user = await this.users.findOneBy(
      credentials.email !== undefined
        ? { email: credentials.email.trim().toLowerCase() }
        : { username: (credentials.username ?? '').trim().toLowerCase() },
    );
    const passwordOk = await this.hasher.verify(user?.passwordHash, credentials.password);
    if (!user || !passwordOk || user.disabled) {
      throw new AppError('invalid_login', 'The email, username or password is wrong.');
    }
    const claims: AccessTokenClaims = { sub: user.id, org: user.organizationId };
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

  async me(ctx: RequestContext): Promise<MeDto> {
    const { principal } = ctx;
    const organization = await this.organizations.findOneByOrFail({ id: ctx.organizationId });
    const me: MeDto = {
      type: principal.type,
      role: principal.role,
      scopes: [...principal.scopes],
      organization: {
        id: encodeShortId(organization.id),
        name: organization.name,
        slug: organization.slug,
      },
    };
    if (principal.type === 'user') {
      const user = await this.users.findOneByOrFail(ctx.scoped({ id: principal.id }));
      me.user = {
        id: encodeShortId(user.id),
        email: user.email,
        username: user.username,
        full_name: user.fullName,
      };
    } else {
      const key = await this.apiKeys.findOneByOrFail(ctx.scoped({ id: principal.id }));
      me.api_key = { id: encodeShortId(key.id), name: key.name, prefix: key.prefix };
    }
    return me;
  }
}
