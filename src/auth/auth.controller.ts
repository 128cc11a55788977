import { Body, Controller, Get, Header, HttpCode, Ip, Post, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiProblems, PROBLEMS } from '../openapi/problems';
import { AuthService } from './auth.service';
import { Ctx, Public, UserSessionOnly } from './decorators';
import { AccessTokenDto, LoginDto } from './dto/login.dto';
import { MeDto } from './dto/me.dto';
import { ChangePasswordDto } from './dto/password.dto';
import { LoginThrottlerGuard } from './login-throttler.guard';
import { LoginService } from './login.service';
import { PasswordChangeThrottlerGuard } from './password-change-throttler.guard';
import { PasswordChangeService } from './password-change.service';
import type { RequestContext } from './principal';

@ApiTags('auth')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly logins: LoginService,
    private readonly passwords: PasswordChangeService,
  ) {}

  @Public()
  @Post('login')
  @HttpCode(200)
  // The answer is a credential (RFC 6749 §5.1): no cache keeps it, though no credential asked.
  @Header('Cache-Control', 'no-store')
  @UseGuards(LoginThrottlerGuard)
  @ApiProblems(
    ...PROBLEMS.jsonBody,
    'invalid_login',
    'login_rate_limited',
    'login_limits_unavailable',
  )
  @ApiOperation({
    operationId: 'login',
    summary: 'Exchange an email or username and password for a JWT',
    description:
      'The token goes in `Authorization: Bearer …` and expires after JWT_TTL_SECONDS. Attempts are ' +
      'limited per client address and per account (LOGIN_RATE_LIMIT per LOGIN_RATE_WINDOW_SECONDS): ' +
      'over the limit is 429 with Retry-After. Where the counts are kept in Redis (REDIS_URL) and ' +
      'it does not answer, 503 `login_limits_unavailable` with Retry-After: no attempt goes uncounted.',
  })
  login(@Body() body: LoginDto, @Ip() address: string): Promise<AccessTokenDto> {
    return this.logins.login(body, address);
  }

  @Post('logout')
  @HttpCode(204)
  @ApiOperation({
    operationId: 'logout',
    summary: 'End every session of the calling user',
    description:
      'Tokens issued to the caller until now (even in this second) are refused from here on ' +
      '(401), in every tab and on every device; a login afterwards works at once. With ' +
      'an API key it does nothing (revoke a key with `DELETE /api/v1/api-keys/{id}`).',
  })
  logout(@Ctx() ctx: RequestContext): Promise<void> {
    return this.auth.logout(ctx);
  }

  @Post('password')
  @HttpCode(200)
  // The answer is a credential, as login's.
  @Header('Cache-Control', 'no-store')
  @UseGuards(PasswordChangeThrottlerGuard)
  @UserSessionOnly()
  @ApiProblems(
    ...PROBLEMS.jsonBody,
    'wrong_current_password',
    'password_unchanged',
    'login_rate_limited',
    'login_limits_unavailable',
  )
  @ApiOperation({
    operationId: 'changeMyPassword',
    summary: 'Change your own password (any role), ending your other sessions',
    description:
      'A logged-in user (Bearer token) sends their current password and the new one (12 to 1024 ' +
      'characters, as an administrator sets one). A wrong current password is 403 ' +
      '`wrong_current_password`, and changes nothing; so does a new password equal to the ' +
      'current one, once that is proved: 400 `password_unchanged`. Every attempt counts against the login ' +
      "limits of the caller's account and address, in the same counts as logins (429 " +
      '`login_rate_limited` with Retry-After), so it guesses no faster than login. On success ' +
      'every token issued until now is refused (401), in every tab and on every device, as after ' +
      "an administrator's change, and the answer is a new token for the caller, shaped as " +
      "login's. An API key has no password: 403 `user_session_required`.",
  })
  changePassword(
    @Ctx() ctx: RequestContext,
    @Body() body: ChangePasswordDto,
    @Ip() address: string,
  ): Promise<AccessTokenDto> {
    return this.passwords.change(ctx, body, address);
  }

  @Get('me')
  @ApiOperation({
    operationId: 'getMe',
    summary: 'The authenticated caller: user or API key',
    description:
      'Who the credential of this request belongs to, its organisation, role and scopes.',
  })
  me(@Ctx() ctx: RequestContext): Promise<MeDto> {
    return this.auth.me(ctx);
  }
}
