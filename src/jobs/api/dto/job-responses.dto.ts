// The response bodies: the types the services return, and the schemas of the OpenAPI document.
import { ApiProperty } from '@nestjs/swagger';
import { JOB_STATES, type JobState } from '../job-view';

export class RegisteredJobDto {
  @ApiProperty({
    format: 'uuid',
    description: 'UUID v4; also the BullMQ job id',
    example: '9b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b',
  })
  job_id!: string;

  @ApiProperty({ enum: ['registered'], example: 'registered' })
  status!: 'registered';

  @ApiProperty({ type: 'integer', minimum: 0, description: 'After the default was applied', example: 10 })
  delay_seconds!: number;

  @ApiProperty({ type: 'integer', minimum: 0, description: 'After the default was applied', example: 3 })
  max_retry!: number;

  @ApiProperty({
    format: 'date-time',
    description:
      'When the job is due (UTC): created_at + delay_seconds, or the run_at asked for (now when it was past)',
    example: '2026-01-02T03:34:56.000Z',
  })
  run_at!: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'After this instant (UTC) the job never starts; null when it never expires',
    example: null,
  })
  expires_at!: string | null;
}

export class RegisteredBatchDto {
  @ApiProperty({ type: [RegisteredJobDto], description: 'One answer per job, in the order of the request' })
  jobs!: RegisteredJobDto[];
}

export class JobViewDto {
  @ApiProperty({
    description: "Always in lower case: a UUID v4, or repeat:<schedule_id>:<due ms> for a schedule's occurrence",
    example: '9b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b',
  })
  job_id!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The token `sub` that registered it (its tenant); null for a job stored before tenants were recorded',
    example: 'team-billing',
  })
  owner!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The schedule this job is an occurrence of (then job_id is repeat:<schedule_id>:<due ms>); else null',
    example: null,
  })
  schedule_id!: string | null;

  @ApiProperty({
    enum: JOB_STATES,
    description:
      'delayed: waiting for its delay or for the backoff before a retry; waiting: due, waiting for a worker; ' +
      'active: running; completed; failed: every attempt failed; expired: it had not started by its expires_at ' +
      'and never runs',
    example: 'completed',
  })
  state!: JobState;

  @ApiProperty({ example: 'Hello, World!' })
  message!: string;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Seconds from registration (or from its latest move, PATCH) to run_at, rounded up',
    example: 10,
  })
  delay_seconds!: number;

  @ApiProperty({ type: 'integer', minimum: 0, example: 3 })
  max_retry!: number;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Attempts that have ended; a running attempt is not counted yet',
    example: 1,
  })
  attempts_made!: number;

  @ApiProperty({ format: 'date-time', example: '2026-01-02T03:34:46.000Z' })
  created_at!: string;

  @ApiProperty({
    format: 'date-time',
    description:
      'When it is (or was first) due: created_at + delay_seconds, the run_at asked for, or the time PATCH moved it to',
    example: '2026-01-02T03:34:56.000Z',
  })
  run_at!: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'After this instant the job never starts (state expired); null when it never expires',
    example: null,
  })
  expires_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When its latest attempt started',
    example: '2026-01-02T03:34:56.004Z',
  })
  processed_at!: string | null;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'When it completed, finally failed, or expired (then its expires_at)',
    example: '2026-01-02T03:34:56.006Z',
  })
  finished_at!: string | null;

  @ApiProperty({ type: String, nullable: true, description: 'The error of its latest failed attempt', example: null })
  failed_reason!: string | null;
}

export class JobListDto {
  @ApiProperty({ type: [JobViewDto], description: 'Newest first (by created_at); at most `limit`' })
  jobs!: JobViewDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Pass as `cursor` for the next page; null on the last page. With a `state` filter a page may hold fewer ' +
      'than `limit` jobs (each request examines at most 1000 jobs) while this is not null.',
    example: null,
  })
  next_cursor!: string | null;
}
