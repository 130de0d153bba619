// What the dashboard lets an authenticated operator change (SPEC 6.6): nothing by default.
import { FetchMetadata, isSameOrigin } from './same-origin';

/** bull-board's add-job route, under the dashboard's path. */
export const ADD_JOB_ROUTE = '/api/queues/:queueName/add';

export const READ_ONLY_MESSAGE = 'The dashboard is read-only (DASHBOARD_READ_ONLY=true)';
export const ADD_JOB_MESSAGE = 'Jobs cannot be added through the dashboard; register them with POST /api/dm-jobqueue/register';
export const CROSS_SITE_MESSAGE =
  'Cross-site request refused: state-changing dashboard requests must come from the dashboard itself';

const READ_METHODS = ['GET', 'HEAD'];
// OPTIONS changes nothing either; it is let through only when the dashboard is writable (no bull-board route answers it).
const SAFE_METHODS = [...READ_METHODS, 'OPTIONS'];

export interface WriteRequest {
  method: string;
  /** The request is bull-board's add-job route. */
  addsJob: boolean;
  headers: FetchMetadata;
}

export interface WriteRefusal {
  statusCode: 403 | 405;
  message: string;
  headers: Record<string, string>;
}

/**
 * Undefined when an authenticated request may go on to bull-board. Read-only: anything but GET and HEAD
 * is 405 (bull-board's readOnlyMode refuses the same, this is the second lock). Writable: a state
 * change must be same-origin (CSRF), and adding a job is always refused, since a job added there skips
 * the API's validation and records no owner (SPEC 6.3).
 */
export function writeRefusal(request: WriteRequest, readOnly: boolean): WriteRefusal | undefined {
  const method = request.method.toUpperCase();
  if (readOnly) {
    return READ_METHODS.includes(method)
      ? undefined
      : { statusCode: 405, message: READ_ONLY_MESSAGE, headers: { allow: READ_METHODS.join(', ') } };
  }
  if (SAFE_METHODS.includes(method)) return undefined;
  if (request.addsJob) return { statusCode: 403, message: ADD_JOB_MESSAGE, headers: {} };
  if (!isSameOrigin(request.headers)) return { statusCode: 403, message: CROSS_SITE_MESSAGE, headers: {} };
  return undefined;
}
