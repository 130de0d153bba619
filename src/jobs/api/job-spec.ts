// Defaults and configured bounds of a job request: pure, so it is tested without Nest.
import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE, JobRequest } from '../job';
import type { RegisterJobDto } from './dto/register-job.dto';

export interface JobLimits {
  maxDelaySeconds: number;
  maxRetry: number;
  messageMaxLength: number;
}

/** Length in characters (Unicode code points), so "é" and "😀" each count as one. */
export function characterLength(text: string): number {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

export type JobSpecResult = { ok: true; data: JobRequest } | { ok: false; errors: string[] };

/** Applies the defaults (for absent, null and, for message, empty values) and checks the upper bounds. */
export function resolveJobSpec(dto: RegisterJobDto, limits: JobLimits): JobSpecResult {
  const data: JobRequest = {
    message: dto.message || DEFAULT_MESSAGE,
    delay_seconds: dto.delay_seconds ?? DEFAULT_DELAY_SECONDS,
    max_retry: dto.max_retry ?? DEFAULT_MAX_RETRY,
  };
  const errors: string[] = [];
  // The bound is on what the client sent; the default message is ours and always allowed.
  if (dto.message && characterLength(dto.message) > limits.messageMaxLength) {
    errors.push(`message must be shorter than or equal to ${limits.messageMaxLength} characters`);
  }
  if (data.delay_seconds > limits.maxDelaySeconds) {
    errors.push(`delay_seconds must not be greater than ${limits.maxDelaySeconds}`);
  }
  if (data.max_retry > limits.maxRetry) {
    errors.push(`max_retry must not be greater than ${limits.maxRetry}`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, data };
}
