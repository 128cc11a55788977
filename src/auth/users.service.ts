import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository, type EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { AppError } from '../common/errors/app.error';
import { findPage, type PageQueryDto } from '../common/pagination/page.dto';
import { AccountsService } from './accounts.service';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyRevocationsRepository } from './api-key-revocations.repository';
import { LoginAddressesRepository } from './login-addresses.repository';
import { UserDto, type CreateUserDto, type UpdateUserDto, type UserPageDto } from './dto/user.dto';
import { User } from './entities/user.entity';
import { PasswordHasher } from './password-hasher';
import type { RequestContext } from './principal';
import { ROLE_SCOPES, Role } from './roles';
import { authoriseGrant } from './route-access';
import { endedSessions, endedSessionsIfDisabled } from './sessions';

/** Administration of the users of the caller's organisation. */
@Injectable()
export class UsersService {
  constructor(
    @InjectRepository(User) private readonly users: Repository<User>,
    private readonly accounts: AccountsService,
    private readonly hasher: PasswordHasher,
    private readonly apiKeys: ApiKeyCache,
    private readonly addresses: LoginAddressesRepository,
    private readonly revocations: ApiKeyRevocationsRepository,
  ) {}

  async create(ctx: RequestContext, dto: CreateUserDto): Promise<UserDto> {
    authoriseGrant(ctx.principal, ROLE_SCOPES[dto.role], `A user with the ${dto.role} role`);
    refuseIfCallerExpires(ctx, 'A user with a password');
    const user = await this.users.manager.transaction(async (manager) => {
      await this.accounts.holdCaller(manager, ctx.principal);
      return this.accounts.createUser(
        ctx.organizationId,
        {
          email: dto.email,
          username: dto.username,
          fullName: dto.full_name,
          password: dto.password,
          role: dto.role,
        },
        manager,
      );
    });
    return UserDto.from(user);
  }

  list(ctx: RequestContext, page: PageQueryDto): Promise<UserPageDto> {
    return findPage(this.users, ctx.organizationId, page, (u) => UserDto.from(u));
  }

  async get(ctx: RequestContext, id: string): Promise<UserDto> {
    return UserDto.from(await this.find(ctx, id));
  }

  async update(ctx: RequestContext, id: string, dto: UpdateUserDto): Promise<UserDto> {
    // Decided on the row as read, to refuse before the password is hashed; decided again on the
    // row as locked (see changeLocked), which a concurrent change may have moved.
    allowChange(ctx, await this.find(ctx, id), dto);
    // Only the columns asked for are written: saving the row read above would write back what
    // another admin changed meanwhile (re-enabling a user just disabled), or insert it again once
    // deleted.
    const columns: QueryDeepPartialEntity<User> = {};
    if (dto.full_name !== undefined) columns.fullName = dto.full_name.trim();
    if (dto.role !== undefined) columns.role = dto.role;
    if (dto.disabled !== undefined) columns.disabled = dto.disabled;
    // Re-enabled, a user logs in again: the tokens they held when disabled stay refused. Decided
    // by the row as the update finds it, so a disabling committed meanwhile counts too.
    if (dto.disabled === false) Object.assign(columns, endedSessionsIfDisabled());
    if (dto.password !== undefined) {
      columns.passwordHash = await this.hasher.hash(dto.password);
      // Whoever knew the old password is logged out: tokens issued before now are refused.
      Object.assign(columns, endedSessions());
    }
    if (Object.keys(columns).length > 0) {
      await this.changeLocked(ctx, id, dto, async (manager, user) => {
        // A login given (see refuseIfCallerExpires): not by a key revoked meanwhile.
        if (dto.password !== undefined || dto.disabled === false) {
          await this.accounts.holdCaller(manager, ctx.principal);
        }
        await manager.update(User, ctx.scoped({ id: user.id }), columns);
        if (dto.password !== undefined) await this.addresses.forget(manager, user.id);
      });
    }
    return UserDto.from(await this.find(ctx, id));
  }

  async remove(ctx: RequestContext, id: string): Promise<void> {
    const user = await this.find(ctx, id);
    if (isCaller(ctx, user)) {
      throw new AppError('cannot_modify_self', 'You cannot delete your own account.');
    }
    await this.changeLocked(ctx, id, undefined, async (manager) => {
      // Their keys first, as a revocation locks them: the deletion writes them (created_by).
      await this.revocations.lockCreatedBy(manager, user.id);
      return manager.delete(User, ctx.scoped({ id: user.id }));
    });
    // Their keys keep working, now naming no creator (created_by is set to null).
    this.apiKeys.forgetCreatedBy(user.id);
  }

  /**
   * Runs `work` in a transaction on the user's row, locked, and as it is then: the change `dto`
   * (none: a deletion) is allowed or refused on that row, not on one read before (a user
   * promoted meanwhile was disabled as the staff member read, leaving no admin; a key holding a
   * user's scopes set the password of one just made admin). Refuses with 409 last_admin when the
   * change takes the organisation's last enabled admin away. When it may, the organisation's
   * admins are locked first, in the order of their ids, then the user: two admins demoted at
   * once cannot both see the other one still there, nor wait for each other.
   */
  private changeLocked<T>(
    ctx: RequestContext,
    id: string,
    dto: UpdateUserDto | undefined,
    work: (manager: EntityManager, user: User) => Promise<T>,
  ): Promise<T> {
    return this.users.manager.transaction(async (manager) => {
      const admins = mayRemoveAdmin(dto)
        ? await manager.find(User, {
            select: { id: true },
            where: ctx.scoped({ role: Role.Admin, disabled: false }),
            order: { id: 'ASC' },
            lock: { mode: 'pessimistic_write' },
          })
        : [];
      const user = await manager.findOne(User, {
        where: ctx.scoped({ id }),
        lock: { mode: 'pessimistic_write' },
      });
      if (!user) throw notFound();
      if (dto) allowChange(ctx, user, dto);
      if (removesAdmin(user, dto) && !admins.some((admin) => admin.id !== user.id)) {
        throw new AppError(
          'last_admin',
          "This is the organisation's last enabled administrator: make another one first.",
        );
      }
      return work(manager, user);
    });
  }

  private async find(ctx: RequestContext, id: string): Promise<User> {
    const user = await this.users.findOneBy(ctx.scoped({ id }));
    if (!user) throw notFound();
    return user;
  }
}

/** Whether a change (none: a deletion) would take an admin away, were the user one. */
function mayRemoveAdmin(dto: UpdateUserDto | undefined): boolean {
  return !dto || dto.disabled === true || (dto.role !== undefined && dto.role !== Role.Admin);
}

/** Whether a change (none: a deletion) takes an enabled admin away: demoted, disabled, deleted. */
function removesAdmin(user: User, dto: UpdateUserDto | undefined): boolean {
  return user.role === Role.Admin && !user.disabled && mayRemoveAdmin(dto);
}

/** Refuses a change the caller may not make to this user: to themselves, or a grant it lacks. */
function allowChange(ctx: RequestContext, user: User, dto: UpdateUserDto): void {
  // An administrator cannot lock themselves out (and so the organisation, if the last admin).
  if (
    isCaller(ctx, user) &&
    (dto.disabled === true || (dto.role !== undefined && dto.role !== Role.Admin))
  ) {
    throw new AppError('cannot_modify_self', 'You cannot disable or demote your own account.');
  }
  authoriseUserGrant(ctx, user, dto);
}

function notFound(): AppError {
  return new AppError('user_not_found', 'No user with this id in your organisation.');
}

/**
 * A role given, a password set (whoever sets it can log in as the user), or an account enabled
 * (a disabled admin's own key could otherwise bring them back) gives the user's scopes: the
 * caller must hold them (see authoriseGrant). A name, or disabling, gives nothing. A password set
 * or an account enabled also gives a login, which an expiring key may not (refuseIfCallerExpires).
 */
function authoriseUserGrant(ctx: RequestContext, user: User, dto: UpdateUserDto): void {
  const role = dto.role ?? user.role;
  if (dto.role !== undefined) authoriseGrant(ctx.principal, ROLE_SCOPES[role], `The ${role} role`);
  if (dto.password !== undefined) {
    authoriseGrant(ctx.principal, ROLE_SCOPES[role], `A password for a user with the ${role} role`);
    refuseIfCallerExpires(ctx, 'A password');
  }
  if (dto.disabled === false) {
    authoriseGrant(ctx.principal, ROLE_SCOPES[role], `Enabling a user with the ${role} role`);
    refuseIfCallerExpires(ctx, 'Enabling a user');
  }
}

/**
 * An API key that expires grants nothing that outlives it: the keys it makes expire no later
 * (AccountsService), and it makes no login, which never expires (whoever logs in makes keys of
 * their own): no user with a password, no password set, no user enabled.
 */
function refuseIfCallerExpires(ctx: RequestContext, what: string): void {
  const expiresAt = ctx.principal.expiresAt;
  if (expiresAt === undefined) return;
  throw new AppError(
    'credential_outlives_caller',
    `${what} would give a login that outlives this API key, which expires at ` +
      `${expiresAt.toISOString()}: ask someone whose credential does not expire.`,
  );
}

/**
 * Whether the caller is this user, logged in. An API key is not its creator (keys belong to the
 * organisation and outlive whoever made them), so an admin key may disable or delete its creator,
 * as offboarding needs, and keeps working after.
 */
function isCaller(ctx: RequestContext, user: User): boolean {
  return ctx.principal.type === 'user' && ctx.principal.id === user.id;
}
