import './common/runtime/require-supported-node';
import 'reflect-metadata';
import type { LoggerService } from '@nestjs/common';
import {
  type CliAction,
  parseCommand,
  USAGE,
  UsageError,
  usageErrorText,
} from './cli/cli-commands';
import { AppError } from './common/errors/app.error';

// What a command needs is loaded when it runs, not here: --help and a usage error are printed at
// once, the API's rules (its DTOs: class-validator, Swagger's decorators) are loaded once the
// options parse (src/cli/cli-commands.ts checks them), and the database's code once they pass
// those rules. Loading all of the service's code first cost each run about a second of CPU,
// --help included.

/** Warnings and errors to stderr: stdout carries only the command's JSON result. */
class StderrLogger implements LoggerService {
  log(): void {}
  warn(message: unknown, ...params: unknown[]): void {
    process.stderr.write(`warning: ${logLine(message, params)}\n`);
  }
  error(message: unknown, ...params: unknown[]): void {
    // Nest's ExceptionHandler logs what failed the start, which (abortOnError: false) it then
    // throws: main's catch prints that once.
    if (params.at(-1) === 'ExceptionHandler') return;
    process.stderr.write(`error: ${logLine(message, params)}\n`);
  }
}

/**
 * A log call as one line: the service logs fields first, then the message (`{ err, image }, 'A
 * rebuild failed'`); the fields follow the message as JSON (already stripped of secrets there).
 * An error is its message, never its stack or its other fields (a query's parameters).
 */
function logLine(message: unknown, params: unknown[]): string {
  if (typeof message !== 'object' || message === null) return String(message);
  const text = params.find((param): param is string => typeof param === 'string');
  const fields = message instanceof Error ? message.message : JSON.stringify(message);
  return `${text ?? ''} ${fields}`.trim();
}

async function main(argv: string[]): Promise<void> {
  await run(await parseCommand(argv));
}

/** The command whose arguments passed, with what it needs loaded now. */
async function run(action: CliAction): Promise<void> {
  switch (action.kind) {
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case 'accounts': {
      const { withAccounts } = await import('./auth/accounts.cli.js');
      return withAccounts(new StderrLogger(), action.work);
    }
    case 'renditions:rebuild': {
      // The whole image stack (storage, processing, jobs), loaded only for this command.
      const { loadAppConfig } = await import('./config/app-config.module.js');
      const config = await loadAppConfig();
      const { rebuildRenditions } = await import('./images/renditions/renditions.cli.js');
      process.exitCode = await rebuildRenditions(config, new StderrLogger());
      return;
    }
    case 'delete-organization': {
      // The catalogue's stack (images' files, their deletions' queue), loaded only for this one.
      const { loadAppConfig } = await import('./config/app-config.module.js');
      const config = await loadAppConfig();
      const { deleteOrganization } = await import('./organizations/organizations.cli.js');
      return deleteOrganization(config, new StderrLogger(), action.org);
    }
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(usageErrorText(err));
    process.exit(2);
  }
  // A ConfigValidationError (as any error but the API's) is its message: the variables it names.
  if (err instanceof AppError) process.stderr.write(`${err.code}: ${err.detail}\n`);
  else process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
