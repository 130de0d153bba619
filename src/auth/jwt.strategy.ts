import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { ClaimPolicy, parseRevokedVersions, Principal, principalFromClaims } from './principal';
import { hmacKey, TokenClaims } from './token';
import { AppConfig } from '../config/app-config';

/** Seconds of clock skew accepted on exp and nbf. */
export const CLOCK_TOLERANCE_SECONDS = 30;

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  private readonly policy: ClaimPolicy;

  constructor(config: AppConfig) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      // jsonwebtoken takes a KeyObject (see hmacKey for why); passport-jwt's types only predate it.
      secretOrKey: hmacKey(config.get('JWT_SECRET')) as unknown as Buffer,
      // Pinned: 'none' and every other algorithm (RS256 with the secret as a "public key", …) are refused.
      algorithms: ['HS256'],
      issuer: config.get('JWT_ISSUER'),
      ignoreExpiration: false,
      // complete: validate() gets the header too, to refuse a `crit` one.
      jsonWebTokenOptions: { clockTolerance: CLOCK_TOLERANCE_SECONDS, complete: true },
    });
    this.policy = {
      appEnv: config.get('APP_ENV'),
      revokedVersions: parseRevokedVersions(config.get('JWT_REVOKED_VERSIONS')),
    };
  }

  /**
   * Returning false makes passport fail the request, which the guard turns into 401 Invalid token. A `crit`
   * header names extensions the recipient must understand, and this service understands none (RFC 7515 4.1.11).
   */
  validate(token: { header: Record<string, unknown>; payload: Partial<TokenClaims> }): Principal | false {
    if (token.header.crit !== undefined) return false;
    return principalFromClaims(token.payload, this.policy) ?? false;
  }
}
