import { Module } from '@nestjs/common';
import { adminBootstrapConfigProvider } from './admin-bootstrap.config';
import { AdminBootstrapService } from './admin-bootstrap.service';
import { AuthModule } from './auth.module';

/** The first-run administrator, for the HTTP application only (not the CLI). */
@Module({ imports: [AuthModule], providers: [adminBootstrapConfigProvider, AdminBootstrapService] })
export class AdminBootstrapModule {}
