import 'reflect-metadata';
import { Logger } from '@nestjs/common';

// Nest's default console logger would print into the test report (TypeORM's migration messages
// from tests that open a DataSource without an app, say). Apps replace it with their own logger,
// configured by LOG_LEVEL; tests that read a service's output start it as a process.
Logger.overrideLogger(false);
