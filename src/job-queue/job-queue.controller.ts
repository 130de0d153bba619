import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireScope } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import type { Env } from '../config/env.validation';
import { RegisterJobDto } from './dto/register-job.dto';
import { IDEMPOTENCY_HEADER, INVALID_KEY_MESSAGE, isIdempotencyKey } from './idempotency';
import { IdempotencyService } from './idempotency.service';
import { JobQueueService, RegisteredJob } from './job-queue.service';
import { JobLimits, resolveJobSpec } from './job-spec';
import { JobView, parseJobId } from './job-view';

const jobNotFound = (): NotFoundException => new NotFoundException('Job not found');

@Controller('api/dm-jobqueue')
export class JobQueueController {
  private readonly limits: JobLimits;

  constructor(
    private readonly jobs: JobQueueService,
    private readonly idempotency: IdempotencyService,
    config: ConfigService<Env, true>,
  ) {
    this.limits = {
      maxDelaySeconds: config.get('JOB_MAX_DELAY_SECONDS'),
      maxRetry: config.get('JOB_MAX_RETRY'),
      messageMaxLength: config.get('JOB_MESSAGE_MAX_LENGTH'),
    };
  }

  /** 201 with a new job; 200 with the first job when the Idempotency-Key was already used for this request. */
  @Post('register')
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  async register(
    @Body() body: RegisterJobDto,
    @Headers(IDEMPOTENCY_HEADER) idempotencyKey: string | undefined,
    @Req() request: FastifyRequest & { user: Principal },
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RegisteredJob> {
    if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
      throw new BadRequestException(INVALID_KEY_MESSAGE);
    }
    const spec = resolveJobSpec(body, this.limits);
    if (!spec.ok) throw new BadRequestException(spec.errors);
    // Without the header, no Redis round trip more than storing the job.
    if (idempotencyKey === undefined) return this.jobs.register(spec.data);

    const { job, replayed } = await this.idempotency.register(request.user.subject, idempotencyKey, spec.data);
    if (replayed) void reply.status(HttpStatus.OK);
    return job;
  }

  @Get('jobs/:job_id')
  @RequireScope('read')
  async getJob(@Param('job_id') rawJobId: string): Promise<JobView> {
    // A malformed id cannot name a job: answered without asking Redis.
    const jobId = parseJobId(rawJobId);
    if (jobId === undefined) throw jobNotFound();
    const job = await this.jobs.find(jobId);
    if (!job) throw jobNotFound();
    return job;
  }

  /** Cancels a job that has not started: 204; 409 once it runs or has finished; 404 when unknown. */
  @Delete('jobs/:job_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequireScope('write')
  async cancelJob(@Param('job_id') rawJobId: string): Promise<void> {
    const jobId = parseJobId(rawJobId);
    if (jobId === undefined) throw jobNotFound();
    switch (await this.jobs.cancel(jobId)) {
      case 'cancelled':
        return;
      case 'running':
        throw new ConflictException('Job is running');
      case 'finished':
        throw new ConflictException('Job has already finished');
      case 'not-found':
        throw jobNotFound();
    }
  }
}
