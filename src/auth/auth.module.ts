import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtAuthGuard } from './jwt-auth.guard';
import { CLOCK_TOLERANCE_SECONDS, JwtStrategy } from './jwt.strategy';
import { VerifiedTokens } from './verified-tokens';
import { AppConfig } from '../config/app-config';

@Module({
  providers: [
    JwtStrategy,
    {
      provide: VerifiedTokens,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new VerifiedTokens(config.get('JWT_CACHE_SIZE'), CLOCK_TOLERANCE_SECONDS),
    },
    { provide: APP_GUARD, useClass: JwtAuthGuard },
  ],
  // The rate limit counts a request against its token only once that token has been verified.
  exports: [VerifiedTokens],
})
export class AuthModule {}
