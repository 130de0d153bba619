// What the dashboard lets an authenticated operator change (SPEC 6.6): nothing by default.
import { FetchMetadata, isSameOrigin } from './same-origin';

/**
 * bull-board's routes that write a job's data (add a job, rewrite one's data, rewrite a job scheduler's template),
 * under the dashboard's path: what they write skips the API's validation and can change a job's owner.
 */
export const JOB_DATA_ROUTES: readonly string[] = [
  '/api/queues/:queueName/add',
  '/api/queues/:queueName/:jobId/update-data',
  '/api/queues/:queueName/job-schedulers/:schedulerId',
];

export const READ_ONLY_MESSAGE = 'The dashboard is read-only (DASHBOARD_READ_ONLY=true)';
export const JOB_DATA_MESSAGE =
  'Job data cannot be written through the dashboard; register jobs with POST /api/dm-jobqueue/register';
export const CROSS_SITE_MESSAGE =
  'Cross-site request refused: state-changing dashboard requests must come from the dashboard itself';

const READ_METHODS = ['GET', 'HEAD'];
// OPTIONS changes nothing either; it is let through only when the dashboard is writable (no bull-board route answers it).
const SAFE_METHODS = [...READ_METHODS, 'OPTIONS'];

export interface WriteRequest {
  method: string;
  /** The request is one of JOB_DATA_ROUTES. */
  writesJobData: boolean;
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
 * change must be same-origin (CSRF), and writing a job's data is always refused, since it skips the API's
 * validation and can record no owner, or another one (SPEC 6.3).
 */
export function writeRefusal(request: WriteRequest, readOnly: boolean): WriteRefusal | undefined {
  const method = request.method.toUpperCase();
  if (readOnly) {
    return READ_METHODS.includes(method)
      ? undefined
      : { statusCode: 405, message: READ_ONLY_MESSAGE, headers: { allow: READ_METHODS.join(', ') } };
  }
  if (SAFE_METHODS.includes(method)) return undefined;
  if (request.writesJobData) return { statusCode: 403, message: JOB_DATA_MESSAGE, headers: {} };
  if (!isSameOrigin(request.headers)) return { statusCode: 403, message: CROSS_SITE_MESSAGE, headers: {} };
  return undefined;
}
