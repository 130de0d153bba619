import { IsInt, IsOptional, IsString, Min } from 'class-validator';

/**
 * Body of POST /api/dm-jobqueue/register. Types and lower bounds are checked here; the upper bounds come
 * from configuration and are checked by `resolveJobSpec`. Unknown properties are refused by the pipe.
 */
export class RegisterJobDto {
  @IsOptional()
  @IsString()
  message?: string | null;

  @IsOptional()
  @Min(0)
  @IsInt() // checked first (decorators apply bottom-up): "5" is "not an integer", not "less than 0"
  delay_seconds?: number | null;

  @IsOptional()
  @Min(0)
  @IsInt() // checked first (decorators apply bottom-up): "5" is "not an integer", not "less than 0"
  max_retry?: number | null;
}
