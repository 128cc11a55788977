import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CreatedLocation } from '../common/http/created-location';
import { ParseIdPipe } from '../common/ids/parse-id.pipe';
import { PageQueryDto } from '../common/pagination/page.dto';
import { Ctx, MinRole, RequireScopes } from './decorators';
import { CreateUserDto, UpdateUserDto, UserDto, UserPageDto } from './dto/user.dto';
import type { RequestContext } from './principal';
import { Role, Scope } from './roles';
import { UsersService } from './users.service';
import { ApiProblems, PROBLEMS } from '../openapi/problems';

@ApiTags('users')
@Controller('users')
@MinRole(Role.Admin)
@RequireScopes(Scope.UsersManage)
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Post()
  @CreatedLocation()
  @ApiOperation({
    operationId: 'createUser',
    summary: 'Create a user in your organisation',
    description: 'Admins only. Emails are unique across the service, usernames too.',
  })
  // What Swagger UI's "Try it out" sends. A sample built from the schema was an enabled admin
  // (the enum's first role) with the password "stringstring": one click made an administrator
  // anyone reading the docs could log in as. The example has the least role, and a password that
  // says to replace it.
  @ApiBody({
    type: CreateUserDto,
    examples: {
      user: {
        summary: 'A user who can read the catalogue (replace the password)',
        value: {
          email: 'new.colleague@example.com',
          username: 'new.colleague',
          full_name: 'New Colleague',
          password: 'replace-with-a-long-passphrase',
          role: Role.User,
        },
      },
    },
  })
  @ApiProblems(...PROBLEMS.jsonBody, 'email_taken', 'username_taken', 'credential_outlives_caller')
  create(@Ctx() ctx: RequestContext, @Body() body: CreateUserDto): Promise<UserDto> {
    return this.users.create(ctx, body);
  }

  @Get()
  @ApiOperation({
    operationId: 'listUsers',
    summary: 'List the users of your organisation',
    description: 'Admins only; paginated with `page` and `per_page`, with the total.',
  })
  @ApiProblems(...PROBLEMS.validation)
  list(@Ctx() ctx: RequestContext, @Query() page: PageQueryDto): Promise<UserPageDto> {
    return this.users.list(ctx, page);
  }

  @Get(':id')
  @ApiOperation({
    operationId: 'getUser',
    summary: 'Get a user',
    description: 'Admins only; a user of another organisation is 404.',
  })
  @ApiProblems('user_not_found')
  get(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<UserDto> {
    return this.users.get(ctx, id);
  }

  @Patch(':id')
  @ApiOperation({
    operationId: 'updateUser',
    summary: 'Change a user’s name, role, password or disabled flag',
    description:
      'Admins only. An admin cannot demote or disable themselves (409 `cannot_modify_self`), ' +
      "nor anyone the organisation's last enabled admin (409 `last_admin`, an API key's caller " +
      'included), so an organisation always keeps one.',
  })
  @ApiProblems(
    ...PROBLEMS.jsonBody,
    'user_not_found',
    'cannot_modify_self',
    'last_admin',
    'credential_outlives_caller',
  )
  update(
    @Ctx() ctx: RequestContext,
    @Param('id', ParseIdPipe) id: string,
    @Body() body: UpdateUserDto,
  ): Promise<UserDto> {
    return this.users.update(ctx, id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'deleteUser',
    summary: 'Delete a user',
    description:
      "Admins only; not yourself, nor the organisation's last enabled admin (409 `last_admin`). " +
      'Images the user uploaded stay, with no uploader; API keys they made stay with the ' +
      'organisation.',
  })
  @ApiProblems('user_not_found', 'cannot_modify_self', 'last_admin')
  remove(@Ctx() ctx: RequestContext, @Param('id', ParseIdPipe) id: string): Promise<void> {
    return this.users.remove(ctx, id);
  }
}
