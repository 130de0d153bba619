import { BadRequestException, Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { RequireScope } from '../auth/auth.decorators';
import type { Env } from '../config/env.validation';
import { RegisterJobDto } from './dto/register-job.dto';
import { JobQueueService, RegisteredJob } from './job-queue.service';
import { JobLimits, resolveJobSpec } from './job-spec';

@Controller('api/dm-jobqueue')
export class JobQueueController {
  private readonly limits: JobLimits;

  constructor(
    private readonly jobs: JobQueueService,
    config: ConfigService<Env, true>,
  ) {
    this.limits = {
      maxDelaySeconds: config.get('JOB_MAX_DELAY_SECONDS'),
      maxRetry: config.get('JOB_MAX_RETRY'),
      messageMaxLength: config.get('JOB_MESSAGE_MAX_LENGTH'),
    };
  }

  @Post('register')
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  async register(@Body() body: RegisterJobDto): Promise<RegisteredJob> {
    const spec = resolveJobSpec(body, this.limits);
    if (!spec.ok) throw new BadRequestException(spec.errors);
    return this.jobs.register(spec.data);
  }
}
