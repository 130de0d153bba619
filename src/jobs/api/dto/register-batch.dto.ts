import { ApiProperty } from '@nestjs/swagger';
import { ArrayNotEmpty, IsArray } from 'class-validator';
import { RegisterJobDto } from './register-job.dto';

/**
 * Body of POST /api/dm-jobqueue/register/batch. Its items are checked one by one as register bodies, by the
 * controller (messages prefixed `jobs.<index>.`); the upper bound on their number comes from configuration.
 */
export class RegisterBatchDto {
  @ApiProperty({
    type: [RegisterJobDto],
    minItems: 1,
    description: 'Register bodies, 1 to JOB_BATCH_MAX_SIZE (default 1000) of them; stored all or none',
  })
  @ArrayNotEmpty()
  @IsArray() // checked first (decorators apply bottom-up): "x" is "not an array", not "empty"
  jobs!: unknown[];
}
