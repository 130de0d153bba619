import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Min } from 'class-validator';
import { DEFAULT_DELAY_SECONDS, DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../../job';

/**
 * Body of POST /api/dm-jobqueue/register. Types and lower bounds are checked here; the upper bounds come
 * from configuration and are checked by `resolveJobSpec`. Unknown properties are refused by the pipe.
 * The @Api* decorators only describe the fields for the OpenAPI document; they do not validate.
 */
export class RegisterJobDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    default: DEFAULT_MESSAGE,
    description:
      'Text the job prints when it runs. Absent, null or "" means the default. At most JOB_MESSAGE_MAX_LENGTH ' +
      '(default 10000) characters, counted as Unicode code points.',
    example: 'Hello, World!',
  })
  @IsOptional()
  @IsString()
  message?: string | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 0,
    default: DEFAULT_DELAY_SECONDS,
    description:
      'Seconds to wait before the first run; 0 runs it now. Absent or null means the default (unless run_at is ' +
      'given). At most JOB_MAX_DELAY_SECONDS (default 2592000, 30 days). Not together with run_at.',
    example: 10,
  })
  @IsOptional()
  @Min(0)
  @IsInt() // checked first (decorators apply bottom-up): "5" is "not an integer", not "less than 0"
  delay_seconds?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 0,
    default: DEFAULT_MAX_RETRY,
    description:
      'Retries after a failed attempt (the job gets max_retry + 1 attempts, with exponential backoff); 0 means ' +
      'no retry. Absent or null means the default. At most JOB_MAX_RETRY (default 100).',
    example: 3,
  })
  @IsOptional()
  @Min(0)
  @IsInt() // checked first (decorators apply bottom-up): "5" is "not an integer", not "less than 0"
  max_retry?: number | null;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the job is due, instead of delay_seconds (giving both is a 400): an RFC 3339 date-time with Z or an ' +
      'offset. One in the past runs the job now; at most JOB_MAX_DELAY_SECONDS ahead.',
    example: '2026-12-01T18:00:00+09:00',
  })
  @IsOptional()
  @IsString()
  run_at?: string | null;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'An RFC 3339 date-time after the due time: a job that has not started by then never runs (state expired), ' +
      'whatever made it late (no worker, a backlog, an outage, retries), and stops counting against the pending ' +
      'quota. Absent or null: it never expires.',
    example: '2026-12-01T18:05:00+09:00',
  })
  @IsOptional()
  @IsString()
  expires_at?: string | null;
}
