// The validated configuration, read with its types. ConfigService.get() without `infer` returns whatever
// type the caller asks for (any by default); AppConfig.get() returns the variable's declared type.
import { Global, Injectable, Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { Env } from './env.validation';

@Injectable()
export class AppConfig {
  constructor(private readonly config: ConfigService<Env, true>) {}

  get<K extends keyof Env>(key: K): Env[K] {
    return this.config.get(key, { infer: true }) as Env[K];
  }
}

/** Global, as ConfigModule is: every module reads its configuration through AppConfig. */
@Global()
@Module({ providers: [AppConfig], exports: [AppConfig] })
export class AppConfigModule {}
