import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import { MaxLength } from '../../../src/common/http/max-length';
import { Public } from '../../../src/auth/decorators';

export class EchoDto {
  @IsString()
  @MaxLength(10)
  name!: string;

  @IsOptional()
  @IsInt()
  @Min(0)
  priority?: number;
}

/**
 * Routes that exist only in tests: a JSON echo (to exercise body parsing and validation), one that
 * fails unexpectedly, and one that takes its time (to observe graceful shutdown).
 */

@Public()
@Controller('probe')
export class ProbeController {
  static slowRequestStarted: () => void = () => undefined;
  /** How long `GET /probe/slow` takes. */
  static slowForMs = 1500;

  @Post('echo')
  @HttpCode(200)
  echo(@Body() body: EchoDto): EchoDto {
    return body;
  }

  @Get('boom')
  boom(): never {
    throw new Error(
      'connect ECONNREFUSED 10.1.2.3:5432 at Pool.connect (/srv/app/node_modules/pg)',
    );
  }

  /** 20 MB at once: more than a connection's buffers hold, for a client that reads nothing. */
  @Get('large')
  large(): Buffer {
    return Buffer.alloc(20 * 1024 * 1024, 0x61);
  }

  @Get('slow')
  async slow(): Promise<{ finished: true }> {
    ProbeController.slowRequestStarted();
    await new Promise((resolve) => setTimeout(resolve, ProbeController.slowForMs));
    return { finished: true };
  }
}

@Module({ controllers: [ProbeController] })
export class ProbeModule {}
