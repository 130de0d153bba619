// The query of GET /api/dm-jobqueue/jobs (SPEC 6.4): pure, so it is tested without Nest.
import { decodeCursor, JOB_STATES, JobState } from './job-view';
import type { ListQuery } from './jobs.service';
import { hasLoneSurrogate } from '../../common/unicode';

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

/**
 * The list request a query string asks for, or one message per bad parameter (unknown ones too). `states` are the
 * values `state` may take; without any (the schedule list) `state` is an unknown parameter.
 */
export function parseListQuery(
  raw: Record<string, unknown>,
  states: readonly string[] = JOB_STATES,
): { ok: true; query: ListQuery } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const known = ['limit', 'cursor', 'owner', ...(states.length > 0 ? ['state'] : [])];
  for (const key of Object.keys(raw)) if (!known.includes(key)) errors.push(`property ${key} should not exist`);
  const single = (name: string): string | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') errors.push(`${name} must be given once`);
    return typeof value === 'string' ? value : undefined;
  };
  const query: ListQuery = { limit: DEFAULT_LIST_LIMIT };
  const state = states.length > 0 ? single('state') : undefined;
  if (state !== undefined) {
    if (states.includes(state)) query.state = state as JobState;
    else errors.push(`state must be one of the following values: ${states.join(', ')}`);
  }
  const limit = single('limit');
  if (limit !== undefined) {
    if (/^\d{1,3}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= MAX_LIST_LIMIT) query.limit = Number(limit);
    else errors.push(`limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const cursor = single('cursor');
  if (cursor !== undefined) {
    query.cursor = decodeCursor(cursor);
    if (query.cursor === undefined) errors.push('cursor must be a next_cursor this service gave out');
  }
  const owner = single('owner');
  if (owner !== undefined) {
    if (owner.length >= 1 && owner.length <= 1_024 && !hasLoneSurrogate(owner)) query.owner = owner;
    else errors.push('owner must be 1 to 1024 characters of Unicode text');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, query };
}
