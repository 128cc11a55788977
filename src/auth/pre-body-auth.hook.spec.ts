import 'reflect-metadata';
import {
  Body,
  Controller,
  Post,
  UnauthorizedException,
  type DynamicModule,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { MinRole, Public, RequireScopes } from './decorators';
import { PreBodyAuthHook } from './pre-body-auth.hook';
import { RequestAuthenticator } from './request-authenticator.service';
import { Role, Scope } from './roles';
import type { RouteAccess } from './route-access';

abstract class SharedRoutes {
  @Post('shared')
  @RequireScopes(Scope.ImagesWrite)
  shared(@Body() body: unknown): unknown {
    return body;
  }
}

@Controller('admin')
@MinRole(Role.Admin)
class AdminController extends SharedRoutes {
  @Post('open')
  @Public()
  open(@Body() body: unknown): unknown {
    return body;
  }
}

@Controller('staff')
@MinRole(Role.Staff)
class StaffController extends SharedRoutes {}

/** Records what each request was checked against; refuses anyone but "letmein". */
class RecordingAuthenticator {
  readonly seen: { url: string; access: RouteAccess }[] = [];

  admit(request: { url: string; headers: Record<string, unknown> }, access: RouteAccess): void {
    this.seen.push({ url: request.url, access });
    if (!access.public && request.headers.authorization !== 'letmein') {
      throw new UnauthorizedException();
    }
  }
}

async function appWith(
  controllers: Type[],
  authenticator: RecordingAuthenticator,
): Promise<NestFastifyApplication> {
  const root: DynamicModule = {
    module: class TestModule {},
    imports: [DiscoveryModule],
    controllers,
    providers: [PreBodyAuthHook, { provide: RequestAuthenticator, useValue: authenticator }],
  };
  const app = await NestFactory.create<NestFastifyApplication>(root, new FastifyAdapter(), {
    logger: false,
    abortOnError: false,
  });
  app.get(PreBodyAuthHook).install(app.getHttpAdapter().getInstance());
  try {
    await app.init();
  } catch (error) {
    await app.close();
    throw error;
  }
  return app;
}

describe('PreBodyAuthHook', () => {
  it("checks each route against its own controller's rules, before the body is parsed", async () => {
    const authenticator = new RecordingAuthenticator();
    const app = await appWith([AdminController, StaffController], authenticator);
    try {
      const post = (url: string, authorization?: string) =>
        app.inject({
          method: 'POST',
          url,
          headers: { 'content-type': 'application/json', ...(authorization && { authorization }) },
          payload: '{"not json',
        });
      // Malformed JSON would be 400: the refusal comes first.
      expect((await post('/staff/shared')).statusCode).toBe(401);
      // Admitted, the body is parsed as usual (and found malformed).
      expect((await post('/admin/shared', 'letmein')).statusCode).toBe(400);
      expect((await post('/admin/open')).statusCode).toBe(400);

      expect(authenticator.seen).toEqual([
        {
          url: '/staff/shared',
          access: { public: false, role: Role.Staff, scopes: [Scope.ImagesWrite] },
        },
        {
          url: '/admin/shared',
          access: { public: false, role: Role.Admin, scopes: [Scope.ImagesWrite] },
        },
        { url: '/admin/open', access: { public: true, role: Role.Admin, scopes: [] } },
      ]);
    } finally {
      await app.close();
    }
  });

  it('refuses to start when two controllers of one name have different rules', async () => {
    const Twin = (path: string, role: Role): Type => {
      @Controller(path)
      @MinRole(role)
      class TwinController {
        @Post()
        create(): void {}
      }
      return TwinController;
    };
    await expect(
      appWith([Twin('a', Role.Admin), Twin('b', Role.User)], new RecordingAuthenticator()),
    ).rejects.toThrow(/share a name but not their access rules: TwinController\.create/);
  });
});
