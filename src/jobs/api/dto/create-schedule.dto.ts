import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { DEFAULT_MAX_RETRY, DEFAULT_MESSAGE } from '../../job';

/** The largest `limit`: BullMQ keeps it in a hash field, which it reads back with parseInt. */
const MAX_LIMIT = 1_000_000_000;

/**
 * Body of POST /api/dm-jobqueue/schedules. Types and lower bounds are checked here; the rest (exactly one of cron and
 * every_seconds, the cron itself, the zone, the minimum interval, the times) by `resolveScheduleSpec`. Unknown
 * properties are refused by the pipe.
 */
export class CreateScheduleDto {
  @ApiPropertyOptional({
    type: String,
    nullable: true,
    default: DEFAULT_MESSAGE,
    description:
      'Text each occurrence prints when it runs. Absent, null or "" means the default. At most ' +
      'JOB_MESSAGE_MAX_LENGTH (default 10000) characters.',
    example: 'Stand-up in 5 minutes',
  })
  @IsOptional()
  @IsString()
  message?: string | null;

  @ApiPropertyOptional({
    type: String,
    description:
      'A cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, read in ' +
      '`tz`. Not together with every_seconds. Its occurrences must be at least SCHEDULE_MIN_INTERVAL_SECONDS ' +
      '(default 60) apart.',
    example: '0 9 * * 1-5',
  })
  @IsOptional()
  @IsString()
  cron?: string | null;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    description:
      'Seconds between occurrences, instead of cron; at least SCHEDULE_MIN_INTERVAL_SECONDS (default 60). The first ' +
      'is due at start_at, or at once.',
    example: 3600,
  })
  @IsOptional()
  @Min(1)
  @IsInt() // checked first (decorators apply bottom-up)
  every_seconds?: number | null;

  @ApiPropertyOptional({
    type: String,
    description:
      "An IANA time zone name the cron is read in (daylight-saving changes included). Absent: the server's zone.",
    example: 'Asia/Tokyo',
  })
  @IsOptional()
  @IsString()
  tz?: string | null;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      'RFC 3339 date-time: no occurrence is due before it. At most JOB_MAX_DELAY_SECONDS ahead. Absent: from now.',
    example: '2027-01-04T00:00:00+09:00',
  })
  @IsOptional()
  @IsString()
  start_at?: string | null;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description: 'RFC 3339 date-time after start_at and after now: no occurrence is due after it. Absent: no end.',
    example: '2027-03-31T00:00:00+09:00',
  })
  @IsOptional()
  @IsString()
  end_at?: string | null;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: MAX_LIMIT,
    description: 'The most occurrences the schedule has; then it ends. Absent: no limit.',
    example: 10,
  })
  @IsOptional()
  @Max(MAX_LIMIT)
  @Min(1)
  @IsInt()
  limit?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 0,
    default: DEFAULT_MAX_RETRY,
    description: 'Retries of each occurrence after a failed attempt, as for a job. At most JOB_MAX_RETRY.',
    example: 3,
  })
  @IsOptional()
  @Min(0)
  @IsInt()
  max_retry?: number | null;
}
