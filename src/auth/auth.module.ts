import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { APP_GUARD } from '@nestjs/core';
import { PassportModule } from '@nestjs/passport';
import type { Env } from '../config/env.validation';
import { JwtAuthGuard } from './jwt-auth.guard';
import { CLOCK_TOLERANCE_SECONDS, JwtStrategy } from './jwt.strategy';
import { VerifiedTokens } from './verified-tokens';

@Module({
  imports: [PassportModule.register({ session: false })],
  providers: [
    JwtStrategy,
    {
      provide: VerifiedTokens,
      inject: [ConfigService],
      useFactory: (config: ConfigService<Env, true>) => new VerifiedTokens(config.get('JWT_CACHE_SIZE'), CLOCK_TOLERANCE_SECONDS),
    },
    { provide: APP_GUARD, useClass: JwtAuthGuard },
  ],
})
export class AuthModule {}
