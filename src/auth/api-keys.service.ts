import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AppError } from '../common/errors/app.error';
import type { PageQueryDto } from '../common/pagination/page.dto';
import { AccountsService } from './accounts.service';
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
  ) {}

  async create(ctx: RequestContext, dto: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    const { apiKey, key } = await this.accounts.createApiKey(ctx.organizationId, {
      name: dto.name,
      role: dto.role,
      scopes: dto.scopes,
      expiresAt: dto.expires_at,
      createdById: ctx.principal.userId,
    });
    return { ...ApiKeyDto.from(apiKey), key };
  }

  async list(ctx: RequestContext, page: PageQueryDto): Promise<ApiKeyPageDto> {
    const [keys, total] = await this.apiKeys.findAndCount({
      where: ctx.scoped({}),
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: page.offset,
      take: page.per_page,
    });
    return {
      items: keys.map((k) => ApiKeyDto.from(k)),
      total,
      page: page.page,
      per_page: page.per_page,
    };
  }

  /** Revokes the key at once. Revoking a revoked key changes nothing. */
  async revoke(ctx: RequestContext, id: string): Promise<void> {
    const key = await this.apiKeys.findOneBy(ctx.scoped({ id }));
    if (!key)
      throw new AppError('api_key_not_found', 'No API key with this id in your organisation.');
    await this.apiKeys.update(ctx.scoped({ id, revokedAt: IsNull() }), {
      revokedAt: () => 'now()',
    });
  }
}
