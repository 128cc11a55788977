import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyRequest } from 'fastify';
import { EnvironmentVariables, JwtAlgorithm } from '../config/env.validation';
import { AccountsService } from './accounts.service';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysService } from './api-keys.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { CredentialsGuard } from './credentials.guard';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import { JwtKeys, loadJwtKeys } from './jwt-keys';
import {
  LOGIN_BY_ACCOUNT,
  LOGIN_BY_ADDRESS,
  LoginThrottlerGuard,
  loginAccountOf,
} from './login-throttler.guard';
import { PasswordHasher } from './password-hasher';
import { PreBodyAuthHook } from './pre-body-auth.hook';
import { PrincipalService } from './principal.service';
import { RequestAuthenticator } from './request-authenticator.service';
import { JwtStrategy } from './strategies/jwt.strategy';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** The keys, loaded once: shared by the JWT module (signing) and the strategy (verifying). */
@Module({
  providers: [{ provide: JwtKeys, inject: [EnvironmentVariables], useFactory: loadJwtKeys }],
  exports: [JwtKeys],
})
class JwtKeysModule {}

/**
 * Organisations, users, API keys, login, and the default-deny access checks (PreBodyAuthHook
 * before the body, the global guard after). Other modules import it for nothing: they use @Ctx(),
 * @MinRole() and @RequireScopes() on their handlers.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([Organization, User, ApiKey]),
    PassportModule,
    DiscoveryModule,
    JwtKeysModule,
    // Signing only: tokens are verified by JwtStrategy, with the same keys and claims.
    JwtModule.registerAsync({
      imports: [JwtKeysModule],
      inject: [JwtKeys, EnvironmentVariables],
      useFactory: (keys: JwtKeys, env: EnvironmentVariables) => ({
        privateKey: keys.signingKey,
        secret: keys.algorithm === JwtAlgorithm.HS256 ? keys.signingKey : undefined,
        signOptions: {
          algorithm: keys.algorithm,
          issuer: env.JWT_ISSUER,
          audience: env.JWT_AUDIENCE,
        },
      }),
    }),
    ThrottlerModule.forRootAsync({
      inject: [EnvironmentVariables],
      useFactory: (env: EnvironmentVariables) => ({
        throttlers: [
          {
            name: LOGIN_BY_ADDRESS,
            ttl: env.LOGIN_RATE_WINDOW_SECONDS * 1000,
            limit: env.LOGIN_RATE_LIMIT,
            getTracker: (req: Record<string, unknown>) => (req as unknown as FastifyRequest).ip,
          },
          {
            name: LOGIN_BY_ACCOUNT,
            ttl: env.LOGIN_RATE_WINDOW_SECONDS * 1000,
            limit: env.LOGIN_RATE_LIMIT,
            getTracker: (req: Record<string, unknown>) =>
              `account:${loginAccountOf((req as unknown as FastifyRequest).body)}`,
          },
        ],
      }),
    }),
  ],
  controllers: [AuthController, UsersController, ApiKeysController],
  providers: [
    PasswordHasher,
    PrincipalService,
    AccountsService,
    AuthService,
    UsersService,
    ApiKeysService,
    JwtStrategy,
    RequestAuthenticator,
    PreBodyAuthHook,
    LoginThrottlerGuard,
    { provide: APP_GUARD, useClass: CredentialsGuard },
  ],
  exports: [AccountsService, PasswordHasher],
})
export class AuthModule {}
