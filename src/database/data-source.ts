import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { validateEnv } from '../config/env.validation';
import { buildDataSourceOptions } from './data-source.options';

// Used by the TypeORM CLI (npm run migration:*). The app builds its DataSource from the same
// options in DatabaseModule. Reads .env like the app does; real environment variables win.
if (existsSync('.env')) process.loadEnvFile('.env');

// Migrations run without DATABASE_STATEMENT_TIMEOUT_MS (an index on a large table takes long);
// 0 sends nothing, so a role's or database's own statement_timeout still applies (README).
export default new DataSource(
  buildDataSourceOptions({ ...validateEnv(process.env), DATABASE_STATEMENT_TIMEOUT_MS: 0 }),
);
