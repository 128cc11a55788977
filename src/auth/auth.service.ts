import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { encodeShortId } from '../common/ids/short-id';
import { credentialGoneMeanwhile } from './challenge';
import type { MeDto } from './dto/me.dto';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import type { RequestContext } from './principal';
import { endedSessions } from './sessions';

/** Who the caller is (`GET /api/v1/auth/me`), and logging out; logging in is LoginService's. */
@Injectable()
export class AuthService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
    @InjectRepository(Organization) private readonly organizations: Repository<Organization>,
  ) {}

  /**
   * The caller as stored. Its row deleted since the request was admitted (a user deleted, say, as
   * their console asks): 401, as the next request with the credential gets.
   */
  async me(ctx: RequestContext): Promise<MeDto> {
    const { principal } = ctx;
    const gone = () => credentialGoneMeanwhile(principal.type);
    const organization = await this.organizations.findOneBy({ id: ctx.organizationId });
    if (!organization) throw gone();
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
      const user = await this.users.findOneBy(ctx.scoped({ id: principal.id }));
      if (!user) throw gone();
      me.user = {
        id: encodeShortId(user.id),
        email: user.email,
        username: user.username,
        full_name: user.fullName,
      };
    } else {
      const key = await this.apiKeys.findOneBy(ctx.scoped({ id: principal.id }));
      if (!key) throw gone();
      me.api_key = { id: encodeShortId(key.id), name: key.name, prefix: key.prefix };
    }
    return me;
  }

  /**
   * Ends every session of the calling user: tokens issued until now are refused from here on, in
   * every tab and on every device, as after a password change (see sessions.ts). An API key has
   * no session to end (it is revoked with DELETE /api/v1/api-keys/{id}).
   */
  async logout(ctx: RequestContext): Promise<void> {
    if (ctx.principal.type !== 'user') return;
    await this.users.update(ctx.scoped({ id: ctx.principal.id }), endedSessions());
  }
}
