import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository, type EntityManager } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { isUniqueViolation } from '../database/pg-errors';
import { ApiKeyRevocationsRepository } from './api-key-revocations.repository';
import { newApiKeyToken } from './api-key-token';
import { credentialGoneMeanwhile } from './challenge';
import { codePointLength } from '../common/http/max-length';
import { canonicalEmail, MAX_EMAIL_LENGTH } from './email-address';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import { LoginAddressesRepository } from './login-addresses.repository';
import { PasswordHasher } from './password-hasher';
import type { Principal } from './principal';
import { ROLE_SCOPES, Role, scopesBeyondRole, type Scope } from './roles';
import { authoriseGrant } from './route-access';
import { endedSessions } from './sessions';

export interface NewUser {
  email: string;
  username: string;
  fullName?: string;
  password: string;
  role: Role;
}

export interface NewApiKey {
  name: string;
  role?: Role;
  scopes?: Scope[];
  expiresAt?: Date;
  createdById?: string | null;
  /** The API key that makes it, when a key does (see ApiKey.createdByKeyId). */
  createdByKeyId?: string;
  /** Who makes it over HTTP: the key may hold no scope they lack. The CLI passes none. */
  grantor?: Principal;
}

/**
 * Creating accounts inside a given organisation. The HTTP services pass the caller's organisation;
 * the CLI and the first-run bootstrap pass one they looked up. The rules live here once.
 */
@Injectable()
export class AccountsService {
  constructor(
    @InjectRepository(Organization) private readonly organizations: Repository<Organization>,
    @InjectRepository(User) private readonly users: Repository<User>,
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
    private readonly hasher: PasswordHasher,
    private readonly addresses: LoginAddressesRepository,
    private readonly revocations: ApiKeyRevocationsRepository,
  ) {}

  /** The organisation of `slug`, or null. */
  findOrganization(slug: string, manager?: EntityManager): Promise<Organization | null> {
    const organizations = manager ? manager.getRepository(Organization) : this.organizations;
    return organizations.findOneBy({ slug });
  }

  /** The organisation with this slug, created if missing (race-free: insert or ignore). */
  async findOrCreateOrganization(
    slug: string,
    name?: string,
    manager?: EntityManager,
  ): Promise<Organization> {
    const organizations = manager ? manager.getRepository(Organization) : this.organizations;
    const existing = await organizations.findOneBy({ slug });
    if (existing) return existing;
    await organizations
      .createQueryBuilder()
      .insert()
      .values({ slug, name: name ?? slug })
      .orIgnore()
      .execute();
    return organizations.findOneByOrFail({ slug });
  }

  async createUser(organizationId: string, input: NewUser, manager?: EntityManager): Promise<User> {
    const email = canonicalEmail(input.email);
    // The API's rules check this spelling (CreateUserDto); ADMIN_EMAIL and the CLI reach here too.
    if (codePointLength(email) > MAX_EMAIL_LENGTH) {
      throw new AppError('validation_failed', 'Invalid value for: email.', [
        {
          field: 'email',
          message: `email must be shorter than or equal to ${MAX_EMAIL_LENGTH} characters`,
        },
      ]);
    }
    const passwordHash = await this.hasher.hash(input.password);
    const repository = manager ? manager.getRepository(User) : this.users;
    try {
      return await repository.save(
        repository.create({
          organizationId,
          email,
          username: input.username.trim().toLowerCase(),
          fullName: input.fullName?.trim() ?? '',
          passwordHash,
          role: input.role,
          disabled: false,
        }),
      );
    } catch (e) {
      if (isUniqueViolation(e, 'UQ_users_email')) {
        throw new AppError('email_taken', 'A user with this email address already exists.', [
          { field: 'email', message: 'is already in use' },
        ]);
      }
      if (isUniqueViolation(e, 'UQ_users_username')) {
        throw new AppError('username_taken', 'A user with this username already exists.', [
          { field: 'username', message: 'is already in use' },
        ]);
      }
      throw e;
    }
  }

  /**
   * Gives the user a new password (stored with the same hasher as everywhere), found by email (when
   * `user` holds an `@`) or username within the organisation with this slug, and ends their
   * sessions (tokens issued before are refused) and the addresses they logged in from (see
   * LoginAddressesRepository.forget). Changes nothing else: not the disabled flag, not the
   * user's API keys. Returns the user as read (what the CLI prints of it did not change).
   */
  async resetPassword(organizationSlug: string, user: string, password: string): Promise<User> {
    const found = await this.findUser(organizationSlug, user);
    found.passwordHash = await this.hasher.hash(password);
    await this.users.manager.transaction(async (manager) => {
      await manager.update(
        User,
        { id: found.id },
        { passwordHash: found.passwordHash, ...endedSessions() },
      );
      await this.addresses.forget(manager, found.id);
    });
    return found;
  }

  private async findUser(organizationSlug: string, user: string): Promise<User> {
    const key = user.includes('@') ? canonicalEmail(user) : user.trim().toLowerCase();
    const organization = await this.organizations.findOneBy({ slug: organizationSlug });
    const found =
      organization &&
      (await this.users.findOneBy({
        organizationId: organization.id,
        ...(key.includes('@') ? { email: key } : { username: key }),
      }));
    if (!found) {
      throw new AppError(
        'user_not_found',
        `No user "${user}" in organisation "${organizationSlug}" (give a username or email).`,
      );
    }
    return found;
  }

  /**
   * In the caller's transaction, before it stores what a credential grants that outlives it (a
   * login: a user with a password, a password set, a user enabled): an API key `principal` must
   * still be good as the database has it now, not as a cache admitted it (another instance may
   * for 5 seconds after a revocation), and its row is held until the transaction ends, so that a
   * revocation waits for the change. Else 401 invalid_api_key. A user needs no such check: their
   * own deletion or disabling does not undo what they did.
   */
  async holdCaller(manager: EntityManager, principal: Principal): Promise<void> {
    if (principal.type === 'api_key') await this.holdKey(manager, principal.id);
  }

  private async holdKey(manager: EntityManager, keyId: string): Promise<void> {
    if (!(await this.revocations.lockMaker(manager, keyId))) {
      throw credentialGoneMeanwhile('api_key');
    }
  }

  /**
   * Returns the stored key and the full secret key, which is never retrievable again. In the
   * `manager`'s transaction if given (the CLI's, which may have just created the organisation).
   * A key made by a key is stored only if its maker is, as the transaction finds it, neither
   * revoked nor expired (401 `invalid_api_key` otherwise, as the maker gets from then on), and
   * holds its maker's row until it commits: a revocation under way, here or on another instance
   * (whose cache may still admit the maker), revokes it too or makes it fail.
   *
   * The creator's row is read locked (FOR KEY SHARE) before anything else, so that a deletion of
   * the creator under way is waited for (the key is then stored with no creator) or waits for the
   * key (and then clears its creator, as of every key the user made). Read unlocked, a deletion
   * committed between the read and the insert failed the insert's foreign key (a 500); and a key
   * made by a key of that creator held the maker's row while the deletion held the creator's and
   * asked for the maker's: a deadlock, and a 500 to one of them. Creator first, then maker: the
   * order in which a deletion locks them.
   */
  async createApiKey(
    organizationId: string,
    input: NewApiKey,
    manager?: EntityManager,
  ): Promise<{ apiKey: ApiKey; key: string }> {
    const grant = grantedKey(input);
    const makerId = input.createdByKeyId;
    const make = async (transaction: EntityManager) => {
      const creator = input.createdById
        ? await transaction.getRepository(User).findOne({
            where: { id: input.createdById },
            lock: { mode: 'for_key_share' },
          })
        : null;
      if (makerId) await this.holdKey(transaction, makerId);
      return this.insertApiKey(transaction, organizationId, grant, creator);
    };
    return manager ? make(manager) : this.apiKeys.manager.transaction(make);
  }

  private async insertApiKey(
    manager: EntityManager,
    organizationId: string,
    grant: GrantedKey,
    creator: User | null,
  ): Promise<{ apiKey: ApiKey; key: string }> {
    const apiKeys = manager.getRepository(ApiKey);
    const { input } = grant;
    // The key belongs to the organisation; who made it is recorded, by id and by username, which
    // stays when that user is deleted.
    const token = newApiKeyToken();
    const apiKey = await apiKeys.save(
      apiKeys.create({
        organizationId,
        name: input.name.trim(),
        role: grant.role,
        scopes: grant.scopes,
        prefix: token.prefix,
        secretHash: token.secretHash,
        createdById: creator?.id ?? null,
        createdByUsername: creator?.username ?? null,
        createdByKeyId: input.createdByKeyId ?? null,
        expiresAt: grant.expiresAt ?? null,
        lastUsedAt: null,
        revokedAt: null,
      }),
    );
    return { apiKey, key: token.key };
  }
}

/** What a key asked for is granted: its role, scopes and expiry, checked against the rules. */
interface GrantedKey {
  input: NewApiKey;
  role: Role;
  scopes: Scope[];
  expiresAt: Date | undefined;
}

/** The key asked for, if the rules allow it: scopes within its role and its grantor's, expiry. */
function grantedKey(input: NewApiKey): GrantedKey {
  const role = input.role ?? Role.Staff;
  const scopes = input.scopes ?? [...ROLE_SCOPES[role]];
  const beyond = scopesBeyondRole(role, scopes);
  if (beyond.length > 0) {
    throw new AppError(
      'scope_not_allowed',
      `The ${role} role does not include: ${beyond.join(', ')}.`,
      [{ field: 'scopes', message: `not allowed for role ${role}: ${beyond.join(', ')}` }],
    );
  }
  if (input.grantor) authoriseGrant(input.grantor, scopes, 'This key');
  const expiresAt = expiryWithin(input.expiresAt, input.grantor?.expiresAt);
  if (expiresAt && expiresAt.getTime() <= Date.now()) {
    throw new AppError('validation_failed', 'expires_at must be in the future.', [
      { field: 'expires_at', message: 'must be in the future' },
    ]);
  }
  return { input, role, scopes, expiresAt };
}

/**
 * A key's expiry when made by a key that expires: never later than its maker's (a credential
 * grants nothing it does not hold, its lifetime included), which is also its default; a later
 * one asked for is refused.
 */
function expiryWithin(asked: Date | undefined, grantorExpires: Date | undefined): Date | undefined {
  if (!grantorExpires) return asked;
  if (asked && asked.getTime() > grantorExpires.getTime()) {
    const limit = grantorExpires.toISOString();
    throw new AppError('validation_failed', `expires_at must be no later than ${limit}.`, [
      {
        field: 'expires_at',
        message: `must be no later than ${limit}, when the key making it expires`,
      },
    ]);
  }
  return asked ?? grantorExpires;
}
