import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { findPage, type PageQueryDto } from '../common/pagination/page.dto';
import { AccountsService } from './accounts.service';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyRevocationsRepository } from './api-key-revocations.repository';
import {
  ApiKeyDto,
  type ApiKeyPageDto,
  type CreateApiKeyDto,
  type CreatedApiKeyDto,
} from './dto/api-key.dto';
import { ApiKey } from './entities/api-key.entity';
import type { RequestContext } from './principal';

/** API keys of the caller's organisation. The secret is shown once, at creation. */
@Injectable()
export class ApiKeysService {
  constructor(
    @InjectRepository(ApiKey) private readonly apiKeys: Repository<ApiKey>,
    private readonly accounts: AccountsService,
    private readonly cache: ApiKeyCache,
    private readonly revocations: ApiKeyRevocationsRepository,
  ) {}

  async create(ctx: RequestContext, dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const { apiKey, key } = await this.accounts.createApiKey(ctx.organizationId, {
      name: dto.name,
      role: dto.role,
      scopes: dto.scopes,
      expiresAt: dto.expires_at,
      createdById: ctx.principal.userId,
      ...(ctx.principal.type === 'api_key' && { createdByKeyId: ctx.principal.id }),
      grantor: ctx.principal,
    });
    return { ...ApiKeyDto.from(apiKey), key };
  }

  list(ctx: RequestContext, page: PageQueryDto): Promise<ApiKeyPageDto> {
    return findPage(this.apiKeys, ctx.organizationId, page, (k) => ApiKeyDto.from(k));
  }

  async get(ctx: RequestContext, id: string): Promise<ApiKeyDto> {
    return ApiKeyDto.from(await this.find(ctx, id));
  }

  /**
   * Revokes the key at once (in other instances of the service, within ApiKeyCache's few
   * seconds), and with it every key it made, and those they made: a leaked key's revocation
   * leaves nothing it made working. Revoking a revoked key revokes what it made since (nothing,
   * unless it was made before the revocation committed).
   */
  async revoke(ctx: RequestContext, id: string): Promise<void> {
    await this.find(ctx, id);
    const prefixes = await this.revocations.revokeWithDescendants(ctx.organizationId, id);
    for (const prefix of prefixes) this.cache.forget(prefix);
  }

  private async find(ctx: RequestContext, id: string): Promise<ApiKey> {
    const key = await this.apiKeys.findOneBy(ctx.scoped({ id }));
    if (!key)
      throw new AppError('api_key_not_found', 'No API key with this id in your organisation.');
    return key;
  }
}
