import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreatedLocation } from '../common/http/created-location';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import { PageQueryDto } from '../common/pagination/page.dto';
import { Idempotent } from '../idempotency/idempotent.decorator';
import { ApiKeysService } from './api-keys.service';
import {
  CREATED_API_KEY_REPLAY,
  recordCreatedApiKey,
  replayCreatedApiKey,
} from './created-api-key-replay';
import { Ctx, MinRole, RequireScopes } from './decorators';
import { ApiKeyDto, ApiKeyPageDto, CreateApiKeyDto, CreatedApiKeyDto } from './dto/api-key.dto';
import type { RequestContext } from './principal';
import { Role, Scope } from './roles';
import { ApiProblems, PROBLEMS } from '../openapi/problems';

@ApiTags('api-keys')
@Controller('api-keys')
@MinRole(Role.Admin)
@RequireScopes(Scope.ApiKeysManage)
export class ApiKeysController {
  constructor(private readonly apiKeys: ApiKeysService) {}

  @Post()
  @CreatedLocation()
  @Idempotent({
    recordAs: recordCreatedApiKey,
    replayAs: replayCreatedApiKey,
    replay: CREATED_API_KEY_REPLAY,
  })
  @ApiOperation({
    operationId: 'createApiKey',
    summary: 'Create an API key; the full key is in this response only',
    description:
      'Admins only. The key acts with the role given here (default staff) and scopes of at most ' +
      'that role’s; only a hash of its secret is stored.',
  })
  // What Swagger UI's "Try it out" sends: without an example, it fills expires_at with the
  // present moment, which is refused (it must be in the future); a key that never expires, as
  // the default, is what most integrations want.
  @ApiBody({
    type: CreateApiKeyDto,
    examples: {
      staff_key: {
        summary: 'A staff key for an integration, that never expires',
        value: { name: 'PIM import job', role: Role.Staff },
      },
      expiring_key: {
        summary: 'A read-only key that expires',
        value: {
          name: 'Storefront preview',
          role: Role.User,
          expires_at: '2030-01-31T00:00:00Z',
        },
      },
    },
  })
  @ApiProblems(...PROBLEMS.jsonBody, 'scope_not_allowed', 'api_key_already_created')
  create(@Ctx() ctx: RequestContext, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyDto> {
    return this.apiKeys.create(ctx, body);
  }

  @Get()
  @ApiOperation({
    operationId: 'listApiKeys',
    summary: 'List API keys (never their secrets)',
    description: 'Admins only; the organisation’s keys with their prefix, scopes and last use.',
  })
  @ApiProblems(...PROBLEMS.validation)
  list(@Ctx() ctx: RequestContext, @Query() page: PageQueryDto): Promise<ApiKeyPageDto> {
    return this.apiKeys.list(ctx, page);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getApiKey',
    summary: 'Get an API key (never its secret)',
    description:
      'Admins only; where `createApiKey` answers the new key is, with its last use and, once ' +
      'revoked, when. A key of another organisation is 404.',
  })
  @ApiProblems('api_key_not_found')
  get(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<ApiKeyDto> {
    return this.apiKeys.get(ctx, id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'revokeApiKey',
    summary: 'Revoke an API key, at once',
    description: 'Admins only. The next request with the key is 401.',
  })
  @ApiProblems('api_key_not_found')
  revoke(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<void> {
    return this.apiKeys.revoke(ctx, id);
  }
}
