import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RequestAuthenticator, type AuthenticatedRequest } from './request-authenticator.service';
import { routeAccessOf } from './route-access';

/**
 * The one global guard: default deny, every route needs a credential unless marked @Public().
 * Routes of the application are already decided by PreBodyAuthHook before their body is read;
 * the guard asks the same RequestAuthenticator again (reusing the principal the hook attached,
 * so nothing is looked up twice), as defence in depth for anything the hook does not see.
 */
@Injectable()
export class CredentialsGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const access = routeAccessOf(this.reflector, context.getHandler(), context.getClass());
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    await this.authenticator.admit(request, access);
    return true;
  }
}
