// The validated configuration, read with its types. ConfigService.get() returns whatever type the caller
// names (any by default); AppConfig.get() names the variable's declared type itself.
import { Global, Injectable, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from './env.validation';

@Injectable()
export class AppConfig {
  constructor(private readonly config: ConfigService<Env, true>) {}

  get<K extends keyof Env>(key: K): Env[K] {
    return this.config.get<Env[K]>(key);
  }
}

/** Global, as ConfigModule is: every module reads its configuration through AppConfig. */
@Global()
@Module({ providers: [AppConfig], exports: [AppConfig] })
export class AppConfigModule {}
