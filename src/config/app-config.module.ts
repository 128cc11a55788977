import { DynamicModule, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { EnvironmentVariables, validateEnv } from './env.validation';

export interface AppConfigOptions {
  /**
   * The variables to validate instead of `.env` and `process.env` (used by tests to start an
   * isolated instance). Left out, `.env` is read and real environment variables win over it.
   */
  env?: Record<string, string | undefined>;
}

export interface LoadedConfig {
  env: EnvironmentVariables;
  module: DynamicModule;
}

/**
 * Provides the validated, typed configuration under its class, `EnvironmentVariables`, from which
 * each module takes its own slice (config-slice.ts); classes inject the slice, not this.
 */
@Module({})
export class AppConfigModule {}

/**
 * Reads and validates the configuration once, through @nestjs/config (which loads `.env`), and
 * returns it with the global module that provides it. Throws ConfigValidationError naming every
 * bad variable, before anything starts or connects.
 */
export async function loadAppConfig(options: AppConfigOptions = {}): Promise<LoadedConfig> {
  const explicit = options.env !== undefined;
  let validated: EnvironmentVariables | undefined;
  const configModule = await ConfigModule.forRoot({
    isGlobal: true,
    cache: true,
    ignoreEnvFile: explicit,
    ignoreEnvVars: explicit,
    skipProcessEnv: true,
    validate: (raw) => (validated = validateEnv(options.env ?? raw)),
  });
  if (!validated) throw new Error('configuration was not validated');
  return {
    env: validated,
    module: {
      module: AppConfigModule,
      global: true,
      imports: [configModule],
      providers: [{ provide: EnvironmentVariables, useValue: validated }],
      exports: [EnvironmentVariables],
    },
  };
}
