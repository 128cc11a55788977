import { Module } from '@nestjs/common';
import { APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule, type ThrottlerStorage } from '@nestjs/throttler';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { FastifyRequest } from 'fastify';
import { JwtAlgorithm } from '../config/env.validation';
import { IdempotencyModule } from '../idempotency/idempotency.module';
import { SHARED_THROTTLER_STORAGE, SharedStateModule } from '../shared-state/shared-state.module';
import { AccountsService } from './accounts.service';
import { ApiKeyCache } from './api-key-cache';
import { ApiKeyUsageRepository } from './api-key-usage.repository';
import { ApiKeyRevocationsRepository } from './api-key-revocations.repository';
import { ApiKeysController } from './api-keys.controller';
import { ApiKeysService } from './api-keys.service';
import { AUTH_CONFIG, authConfigProvider, type AuthConfig } from './auth.config';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { clientNetwork } from './client-network';
import { LoginAddressesRepository } from './login-addresses.repository';
import { LoginService } from './login.service';
import { CredentialsGuard } from './credentials.guard';
import { ApiKey } from './entities/api-key.entity';
import { Organization } from './entities/organization.entity';
import { User } from './entities/user.entity';
import { JwksController } from './jwks.controller';
import { JwtKeys, loadJwtKeys } from './jwt-keys';
import {
  LOGIN_BY_ACCOUNT,
  LOGIN_BY_ADDRESS,
  LoginThrottlerGuard,
  loginAccountOf,
} from './login-throttler.guard';
import { PasswordChangeThrottlerGuard } from './password-change-throttler.guard';
import { PasswordChangeService } from './password-change.service';
import { PasswordHasher } from './password-hasher';
import { PreBodyAuthHook } from './pre-body-auth.hook';
import { PrincipalService } from './principal.service';
import { RequestAuthenticator } from './request-authenticator.service';
import { JwtStrategy } from './strategies/jwt.strategy';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/**
 * The auth settings, and the keys loaded once from them: shared by the JWT module (signing), the
 * throttler (login limits) and AuthModule's classes (the strategy verifies with the same keys).
 */
@Module({
  providers: [
    authConfigProvider,
    { provide: JwtKeys, inject: [AUTH_CONFIG], useFactory: loadJwtKeys },
  ],
  exports: [AUTH_CONFIG, JwtKeys],
})
class AuthConfigModule {}

/**
 * `GET /.well-known/jwks.json`, at the root as RFC 8615 places it: a module of its own, imported by
 * AuthModule, so that the API prefix AuthModule's routes are given (app.factory's withApiPrefix,
 * by module) does not apply to it.
 */
@Module({ imports: [AuthConfigModule], controllers: [JwksController] })
class JwksModule {}

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
    AuthConfigModule,
    JwksModule,
    // For @Idempotent() on an API key's creation.
    IdempotencyModule,
    // Signing only: tokens are verified by JwtStrategy, with the same keys and claims.
    JwtModule.registerAsync({
      imports: [AuthConfigModule],
      inject: [JwtKeys, AUTH_CONFIG],
      useFactory: (keys: JwtKeys, config: AuthConfig) => ({
        privateKey: keys.signingKey,
        secret: keys.algorithm === JwtAlgorithm.HS256 ? keys.signingKey : undefined,
        signOptions: {
          algorithm: keys.algorithm,
          keyid: keys.keyId,
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
        },
      }),
    }),
    // Counted where every instance of the service sees the same counts (see SharedStateModule).
    ThrottlerModule.forRootAsync({
      imports: [AuthConfigModule, SharedStateModule],
      inject: [AUTH_CONFIG, SHARED_THROTTLER_STORAGE],
      useFactory: (config: AuthConfig, storage: ThrottlerStorage) => ({
        storage,
        // No X-RateLimit-*-<throttler> nor Retry-After-<throttler> headers: undocumented, and a
        // 429 carries the one Retry-After (LoginThrottlerGuard).
        setHeaders: false,
        throttlers: [
          {
            name: LOGIN_BY_ADDRESS,
            ttl: config.LOGIN_RATE_WINDOW_SECONDS * 1000,
            limit: config.LOGIN_RATE_LIMIT,
            getTracker: (req: Record<string, unknown>) =>
              clientNetwork((req as unknown as FastifyRequest).ip),
          },
          {
            name: LOGIN_BY_ACCOUNT,
            ttl: config.LOGIN_RATE_WINDOW_SECONDS * 1000,
            limit: config.LOGIN_RATE_LIMIT,
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
    ApiKeyCache,
    ApiKeyUsageRepository,
    ApiKeyRevocationsRepository,
    PrincipalService,
    AccountsService,
    AuthService,
    LoginService,
    LoginAddressesRepository,
    UsersService,
    ApiKeysService,
    JwtStrategy,
    RequestAuthenticator,
    PreBodyAuthHook,
    LoginThrottlerGuard,
    PasswordChangeService,
    PasswordChangeThrottlerGuard,
    { provide: APP_GUARD, useClass: CredentialsGuard },
  ],
  exports: [AccountsService, PasswordHasher, PrincipalService],
})
export class AuthModule {}
