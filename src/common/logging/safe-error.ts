/**
 * What of an error may be logged. Database errors carry the query's parameters and PostgreSQL's
 * `detail` (which quotes the offending values): passwords, hashes, emails. Neither is kept.
 */
export interface SafeError {
  name: string;
  message: string;
  code?: string;
  constraint?: string;
  stack?: string;
}

export function safeError(error: unknown): SafeError {
  if (!(error instanceof Error)) return { name: typeof error, message: String(error) };
  const e = error as Error & {
    code?: unknown;
    constraint?: unknown;
    driverError?: { code?: unknown; constraint?: unknown };
  };
  const code = e.driverError?.code ?? e.code;
  const constraint = e.driverError?.constraint ?? e.constraint;
  return {
    name: e.name,
    message: e.message,
    ...(typeof code === 'string' ? { code } : {}),
    ...(typeof constraint === 'string' ? { constraint } : {}),
    ...(e.stack ? { stack: e.stack } : {}),
  };
}
