import { ExecutionContext, ForbiddenException, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { withHeaders } from '../http/http-exception.filter';
import { IS_PUBLIC_KEY, REQUIRED_SCOPE_KEY } from './auth.decorators';
import type { Principal } from './principal';
import type { Scope } from './token';
import { VerifiedTokens } from './verified-tokens';

export const AUTH_REALM = 'dm-jobqueue';
// RFC 6750 section 2.1: "Bearer" 1*SP b64token (the scheme is case-insensitive).
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

function unauthorized(message: string, error?: 'invalid_token'): UnauthorizedException {
  const challenge = error ? `Bearer realm="${AUTH_REALM}", error="${error}"` : `Bearer realm="${AUTH_REALM}"`;
  return withHeaders(new UnauthorizedException(message), { 'WWW-Authenticate': challenge });
}

/** What a route asks of the caller. */
interface RouteAuth {
  isPublic: boolean;
  scope: Scope | undefined;
}

/**
 * Global guard: every route needs a valid bearer token unless marked @Public(), and the scope named by
 * @RequireScope(). The header is checked here first, so malformed requests never reach passport. A token
 * passport-jwt (JwtStrategy) accepted is remembered (VerifiedTokens), and the same caller's next requests
 * are answered from that cache without entering passport.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  /** By controller, then handler. */
  private readonly routes = new WeakMap<object, WeakMap<object, RouteAuth>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly verified: VerifiedTokens,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const route = this.routeAuth(context);
    if (route.isPublic) return true;

    const request = context.switchToHttp().getRequest<FastifyRequest & { user?: Principal }>();
    const header = request.headers.authorization;
    if (header === undefined) throw unauthorized('Authorization header is required');
    const bearer = BEARER.exec(header);
    if (bearer === null) {
      // Another scheme (Basic, …) sent no bearer token at all: no error code then (RFC 6750 section 3.1).
      const sentToken = /^bearer\b/i.test(header);
      throw unauthorized('Invalid authorization header format', sentToken ? 'invalid_token' : undefined);
    }

    const token = bearer[1];
    let principal = this.verified.get(token);
    if (principal === undefined) {
      await super.canActivate(context); // passport-jwt, then handleRequest below; sets request.user
      principal = request.user!;
      this.verified.remember(token, principal);
    }
    request.user = principal;

    const { scope } = route;
    if (scope !== undefined && !principal.scopes.has(scope)) {
      throw withHeaders(new ForbiddenException('Insufficient scope'), {
        'WWW-Authenticate': `Bearer realm="${AUTH_REALM}", error="insufficient_scope", scope="${scope}"`,
      });
    }
    return true;
  }

  /** The route's @Public() and @RequireScope(), read once per route: decorators do not change at run time. */
  private routeAuth(context: ExecutionContext): RouteAuth {
    const handler = context.getHandler();
    const controller = context.getClass();
    let routes = this.routes.get(controller);
    if (!routes) this.routes.set(controller, (routes = new WeakMap()));
    let route = routes.get(handler);
    if (!route) {
      const targets = [handler, controller];
      route = {
        isPublic: this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC_KEY, targets) === true,
        scope: this.reflector.getAllAndOverride<Scope | undefined>(REQUIRED_SCOPE_KEY, targets),
      };
      routes.set(handler, route);
    }
    return route;
  }

  /** Whatever the strategy found wrong (signature, alg, iss, exp, nbf, claims), the client only learns this. */
  override handleRequest<TUser = Principal>(error: unknown, user: TUser | false): TUser {
    if (error || !user) throw unauthorized('Invalid token', 'invalid_token');
    return user;
  }
}
