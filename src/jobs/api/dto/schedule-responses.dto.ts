import { ApiProperty } from '@nestjs/swagger';
import { SCHEDULE_STATES, type ScheduleState } from '../schedule-view';

export class ScheduleViewDto {
  @ApiProperty({ format: 'uuid', description: 'Always in lower case', example: '3f0c1e2d-4b5a-4c6d-8e7f-9a0b1c2d3e4f' })
  schedule_id!: string;

  @ApiProperty({ description: 'The token `sub` that created it (its tenant)', example: 'team-billing' })
  owner!: string;

  @ApiProperty({
    enum: SCHEDULE_STATES,
    description:
      'active: occurrences are still to come; ended: its limit is reached, or no occurrence is due before its ' +
      'end_at (an ended schedule is shown for JOB_KEEP_COMPLETED_SECONDS, then it is gone)',
    example: 'active',
  })
  state!: ScheduleState;

  @ApiProperty({ example: 'Stand-up in 5 minutes' })
  message!: string;

  @ApiProperty({ type: 'integer', minimum: 0, example: 3 })
  max_retry!: number;

  @ApiProperty({ type: String, nullable: true, example: '0 9 * * 1-5' })
  cron!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, example: null })
  every_seconds!: number | null;

  @ApiProperty({ description: 'The zone the cron is read in', example: 'Asia/Tokyo' })
  tz!: string;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  start_at!: string | null;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  end_at!: string | null;

  @ApiProperty({ type: 'integer', nullable: true, minimum: 1, example: null })
  limit!: number | null;

  @ApiProperty({ format: 'date-time', example: '2026-12-01T23:58:00.000Z' })
  created_at!: string;

  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the next occurrence is due (it may be past while it waits for a worker); null once the schedule has ended',
    example: '2026-12-02T00:00:00.000Z',
  })
  next_run_at!: string | null;

  @ApiProperty({
    type: 'integer',
    minimum: 0,
    description: 'Occurrences that have started so far (each is a job in the job list, with this schedule_id)',
    example: 0,
  })
  occurrences!: number;

  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: null })
  ended_at!: string | null;
}

export class ScheduleListDto {
  @ApiProperty({ type: [ScheduleViewDto], description: 'Newest first (by created_at); at most `limit`' })
  schedules!: ScheduleViewDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Pass as `cursor` for the next page; null on the last page',
    example: null,
  })
  next_cursor!: string | null;
}
