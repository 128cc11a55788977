import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import { findPage, type PageQueryDto } from '../common/pagination/page.dto';
import { AccountsService } from './accounts.service';
import { ApiKeyCache } from './api-key-cache';
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
  ) {}

  async create(ctx: RequestContext, dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const { apiKey, key } = await this.accounts.createApiKey(ctx.organizationId, {
      name: dto.name,
      role: dto.role,
      scopes: dto.scopes,
      expiresAt: dto.expires_at,
      createdById: ctx.principal.userId,
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
   * seconds). Revoking a revoked key changes nothing.
   */
  async revoke(ctx: RequestContext, id: string): Promise<void> {
    const key = await this.find(ctx, id);
    await this.apiKeys.update(ctx.scoped({ id, revokedAt: IsNull() }), {
      revokedAt: () => 'now()',
    });
    this.cache.forget(key.prefix);
  }

  private async find(ctx: RequestContext, id: string): Promise<ApiKey> {
    const key = await this.apiKeys.findOneBy(ctx.scoped({ id }));
    if (!key)
      throw new AppError('api_key_not_found', 'No API key with this id in your organisation.');
    return key;
  }
}
