import { SetMetadata } from '@nestjs/common';
import type { Scope } from './token';

export const IS_PUBLIC_KEY = 'auth:isPublic';
export const REQUIRED_SCOPE_KEY = 'auth:requiredScope';

/** Opts a route or controller out of bearer authentication (health, documentation). */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(IS_PUBLIC_KEY, true);

/** The scope a token must carry for this route; a token without it gets 403 Insufficient scope. */
export const RequireScope = (scope: Scope): ClassDecorator & MethodDecorator => SetMetadata(REQUIRED_SCOPE_KEY, scope);
