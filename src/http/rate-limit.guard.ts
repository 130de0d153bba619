// Global rate limit per client (SPEC 6.2): RATE_LIMIT_PER_MINUTE requests a minute, 429 + Retry-After above it.
import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { ThrottlerException, ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { VerifiedTokens } from '../auth/verified-tokens';
import { FixedWindowStorage } from './rate-limit.storage';
import { rateLimitTracker } from './rate-limit.tracker';
import { AppConfig } from '../config/app-config';

export const RATE_LIMIT_WINDOW_MS = 60_000;
export const TOO_MANY_REQUESTS = 'Too many requests';

/** ThrottlerModule.forRootAsync's factory: one unnamed throttler, so the headers carry no suffix. */
export function rateLimitOptions(config: AppConfig): ThrottlerModuleOptions {
  return {
    throttlers: [{ limit: config.get('RATE_LIMIT_PER_MINUTE'), ttl: RATE_LIMIT_WINDOW_MS }],
    storage: new FixedWindowStorage(),
    errorMessage: TOO_MANY_REQUESTS,
  };
}

/**
 * Registered as the first APP_GUARD (before JwtAuthGuard), so a flood is refused before any token is
 * verified. Every limited response carries X-RateLimit-Limit, -Remaining and -Reset (seconds); a 429
 * also carries Retry-After (seconds). Controllers opt out with @SkipThrottle() (health; later metrics).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  private disabled = false;
  // A property, so ThrottlerGuard's own constructor injection stays as the library declares it.
  @Inject(VerifiedTokens) private readonly verified!: VerifiedTokens;

  override async onModuleInit(): Promise<void> {
    await super.onModuleInit();
    // RATE_LIMIT_PER_MINUTE=0: no counting and no X-RateLimit headers at all.
    this.disabled = this.throttlers.every((throttler) => throttler.limit === 0);
  }

  protected override shouldSkip(): Promise<boolean> {
    return Promise.resolve(this.disabled);
  }

  protected override getTracker(request: FastifyRequest): Promise<string> {
    return Promise.resolve(
      rateLimitTracker(request.headers.authorization, request.ip, (token) => this.verified.has(token)),
    );
  }

  // One count per client across every limited route (throttler's default counts per route).
  protected override generateKey(_context: ExecutionContext, tracker: string, throttlerName: string): string {
    return `${throttlerName}:${tracker}`;
  }

  // Throttler sets only Retry-After on a refusal; the X-RateLimit-* headers belong on the 429 too.
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const { res } = this.getRequestResponse(context);
    this.setResponseHeader(res, `${this.headerPrefix}-Limit`, detail.limit);
    this.setResponseHeader(res, `${this.headerPrefix}-Remaining`, 0);
    this.setResponseHeader(res, `${this.headerPrefix}-Reset`, detail.timeToExpire);
    // A string response: HttpExceptionFilter turns it into {statusCode: 429, message, error}.
    throw new ThrottlerException(await this.getErrorMessage(context, detail));
  }
}
