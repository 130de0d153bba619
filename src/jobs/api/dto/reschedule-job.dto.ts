import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, IsString, Min } from 'class-validator';

/** Body of PATCH /api/dm-jobqueue/jobs/:job_id: exactly one of the two fields (checked by `resolveReschedule`). */
export class RescheduleJobDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description: 'Seconds from now; 0 makes the job due now. At most JOB_MAX_DELAY_SECONDS. Not together with run_at.',
    example: 60,
  })
  @IsOptional()
  @Min(0)
  @IsInt() // checked first (decorators apply bottom-up): "5" is "not an integer", not "less than 0"
  delay_seconds?: number | null;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    description:
      'The new due time, an RFC 3339 date-time with Z or an offset; one in the past makes the job due now. At most ' +
      "JOB_MAX_DELAY_SECONDS ahead, and before the job's expires_at.",
    example: '2026-12-01T18:00:00+09:00',
  })
  @IsOptional()
  @IsString()
  run_at?: string | null;
}
