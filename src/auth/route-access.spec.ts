import 'reflect-metadata';
import { Reflector } from '@nestjs/core';
import { AppError } from '../common/errors/app.error';
import { MinRole, Public, RequireScopes } from './decorators';
import type { Principal } from './principal';
import { Role, ROLE_SCOPES, Scope } from './roles';
import { authorise, routeAccessOf, sameAccess } from './route-access';

@MinRole(Role.Admin)
@RequireScopes(Scope.UsersManage)
class AdminController {
  inherited(): void {}

  @MinRole(Role.User)
  @RequireScopes(Scope.ImagesRead)
  relaxed(): void {}

  @Public()
  open(): void {}
}

class PlainController {
  anything(): void {}
}

function principal(role: Role, scopes: readonly Scope[] = ROLE_SCOPES[role]): Principal {
  return { type: 'user', id: 'u', organizationId: 'o', role, scopes, userId: 'u' };
}

function refusal(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as AppError).code;
  }
}

describe('routeAccessOf', () => {
  const reflector = new Reflector();
  const of = (controller: new () => object, method: string): ReturnType<typeof routeAccessOf> =>
    routeAccessOf(
      reflector,
      (controller.prototype as Record<string, () => void>)[method],
      controller,
    );

  it("takes the controller's rules when the handler has none", () => {
    expect(of(AdminController, 'inherited')).toEqual({
      public: false,
      role: Role.Admin,
      scopes: [Scope.UsersManage],
    });
  });

  it("lets the handler's rules override the controller's", () => {
    expect(of(AdminController, 'relaxed')).toEqual({
      public: false,
      role: Role.User,
      scopes: [Scope.ImagesRead],
    });
    expect(of(AdminController, 'open').public).toBe(true);
  });

  it('needs a credential, and nothing more, where nothing is said', () => {
    expect(of(PlainController, 'anything')).toEqual({ public: false, scopes: [] });
  });

  it('compares access rules regardless of scope order', () => {
    const a = { public: false, role: Role.Staff, scopes: [Scope.ImagesRead, Scope.ImagesWrite] };
    expect(sameAccess(a, { ...a, scopes: [Scope.ImagesWrite, Scope.ImagesRead] })).toBe(true);
    expect(sameAccess(a, { ...a, role: Role.Admin })).toBe(false);
    expect(sameAccess(a, { ...a, scopes: [Scope.ImagesRead] })).toBe(false);
  });
});

describe('authorise', () => {
  const access = { public: false, role: Role.Staff, scopes: [Scope.ImagesWrite] };

  it('admits a caller with the role and every scope', () => {
    expect(refusal(() => authorise(principal(Role.Staff), access))).toBeUndefined();
    expect(refusal(() => authorise(principal(Role.Admin), access))).toBeUndefined();
  });

  it('refuses a lower role with insufficient_role', () => {
    expect(refusal(() => authorise(principal(Role.User), access))).toBe('insufficient_role');
  });

  it('refuses a missing scope with insufficient_scope, naming it', () => {
    const keyWithoutWrite = principal(Role.Admin, [Scope.ImagesRead]);
    let error: AppError | undefined;
    try {
      authorise(keyWithoutWrite, access);
    } catch (e) {
      error = e as AppError;
    }
    expect(error?.code).toBe('insufficient_scope');
    expect(error?.extensions).toEqual({ required_scopes: [Scope.ImagesWrite] });
  });
});
