import { ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { withHeaders } from '../common/http-exception.filter';
import { IS_PUBLIC_KEY, REQUIRED_SCOPE_KEY } from './auth.decorators';
import type { Principal } from './principal';
import type { Scope } from './token';

export const AUTH_REALM = 'dm-jobqueue';
// RFC 6750 section 2.1: "Bearer" 1*SP b64token (the scheme is case-insensitive).
const BEARER = /^bearer +[A-Za-z0-9\-._~+/]+=*$/i;

function unauthorized(message: string, error?: 'invalid_token'): UnauthorizedException {
  const challenge = error ? `Bearer realm="${AUTH_REALM}", error="${error}"` : `Bearer realm="${AUTH_REALM}"`;
  return withHeaders(new UnauthorizedException(message), { 'WWW-Authenticate': challenge });
}

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(), and the scope named by
 * @RequireScope(). The header is checked here first so malformed requests never reach passport.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    const header = request.headers.authorization;
    if (header === undefined) throw unauthorized('Authorization header is required');
    if (!BEARER.test(header)) {
      // Another scheme (Basic, …) sent no bearer token at all: no error code then (RFC 6750 section 3.1).
      const sentToken = /^bearer\b/i.test(header);
      throw unauthorized('Invalid authorization header format', sentToken ? 'invalid_token' : undefined);
    }

    await super.canActivate(context);

    const scope = this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE_KEY, targets);
    if (scope !== undefined && !request.user!.scopes.has(scope)) {
      throw withHeaders(new ForbiddenException('Insufficient scope'), {
        'WWW-Authenticate': `Bearer realm="${AUTH_REALM}", error="insufficient_scope", scope="${scope}"`,
      });
    }
    return true;
  }

  // Whatever passport found wrong (signature, alg, iss, exp, nbf, claims), the client only learns this.
  override handleRequest<TUser = Principal>(error: unknown, user: TUser | false): TUser {
    if (error || !user) throw unauthorized('Invalid token', 'invalid_token');
    return user;
  }
}
