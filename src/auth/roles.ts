/** What a caller acts as. The Ocha API and the token API: admin, staff, and plain users who only read. */
export enum Role {
  Admin = 'admin',
  Staff = 'staff',
  User = 'user',
}

export enum Scope {
  ProductsRead = 'products:read',
  ProductsWrite = 'products:write',
  ImagesRead = 'images:read',
  ImagesWrite = 'images:write',
  ApiKeysManage = 'api_keys:manage',
  UsersManage = 'users:manage',
}

const READ = [Scope.ProductsRead, Scope.ImagesRead];
const WRITE = [...READ, Scope.ProductsWrite, Scope.ImagesWrite];

/** The scopes each role implies. An API key holds at most its role's scopes. */
export const ROLE_SCOPES: Record<Role, readonly Scope[]> = {
  [Role.Admin]: Object.values(Scope),
  [Role.Staff]: WRITE,
  [Role.User]: READ,
};

/** Ordering for "at least this role" checks. */
const RANK: Record<Role, number> = { [Role.User]: 0, [Role.Staff]: 1, [Role.Admin]: 2 };

export function roleAtLeast(role: Role, minimum: Role): boolean {
  return RANK[role] >= RANK[minimum];
}

/** Scopes among `requested` that `role` does not imply. */
export function scopesBeyondRole(role: Role, requested: readonly Scope[]): Scope[] {
  return requested.filter((s) => !ROLE_SCOPES[role].includes(s));
}
