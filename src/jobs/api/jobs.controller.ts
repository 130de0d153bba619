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
import {
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiHeader,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireScope } from '../../auth/auth.decorators';
import type { Principal } from '../../auth/principal';
import { ApiAuthenticatedErrors, ApiError, RATE_LIMIT_HEADERS } from '../../openapi/api-responses';
import { JobViewDto, RegisteredJobDto } from './dto/job-responses.dto';
import { RegisterJobDto } from './dto/register-job.dto';
import { IDEMPOTENCY_HEADER, INVALID_KEY_MESSAGE, isIdempotencyKey } from './idempotency';
import { IdempotencyService } from './idempotency.service';
import { JobsService } from './jobs.service';
import { JobLimits, resolveJobSpec } from './job-spec';
import { parseJobId } from './job-view';
import { AppConfig } from '../../config/app-config';

/** What JwtAuthGuard leaves on every request it lets through to this controller. */
type AuthenticatedRequest = FastifyRequest & { user: Principal };

const jobNotFound = (): NotFoundException => new NotFoundException('Job not found');

const ApiJobIdParam = (): MethodDecorator =>
  ApiParam({ name: 'job_id', format: 'uuid', description: 'The job_id given at registration (any letter case)' });
const ApiJobNotFound = (): MethodDecorator =>
  ApiError(
    404,
    '`Job not found`: no such job (also one already cancelled or expired), one of another tenant (token `sub`) unless ' +
      'the token has scope admin, or an id that is not a UUID v4',
  );

@ApiTags('jobs')
@ApiBearerAuth()
@ApiAuthenticatedErrors()
@Controller('api/dm-jobqueue')
export class JobsController {
  private readonly limits: JobLimits;

  constructor(
    private readonly jobs: JobsService,
    private readonly idempotency: IdempotencyService,
    config: AppConfig,
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
  @ApiOperation({ summary: 'Register a job (scope write)', description: 'The job runs once its delay has passed.' })
  @ApiBody({ type: RegisterJobDto, required: false, description: 'A JSON object; an empty body counts as {}' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Makes the request safe to retry: the same key from the same token subject within 24 h stores one job ' +
      '(200 with the first answer); 1 to 255 printable ASCII characters.',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  })
  @ApiCreatedResponse({ type: RegisteredJobDto, description: 'The job is stored' })
  @ApiOkResponse({
    type: RegisteredJobDto,
    description: "Idempotency-Key replay: the first request's answer; nothing new is stored",
  })
  @ApiError(
    400,
    'Invalid body (wrong type, out of range, unknown property, malformed JSON, not an object, a __proto__ key, bytes ' +
      'that are not UTF-8; one message per field) or an invalid Idempotency-Key',
  )
  @ApiError(409, 'Idempotency-Key already used with a different request, or that request is still in progress')
  @ApiError(413, 'Body over BODY_LIMIT_BYTES (default 131072)')
  @ApiError(
    429,
    '`Pending job quota exceeded`: the token subject already has TENANT_MAX_PENDING_JOBS (default 100000) jobs that ' +
      'have not started, and nothing is stored; or `Too many requests` (with Retry-After): over RATE_LIMIT_PER_MINUTE',
    RATE_LIMIT_HEADERS,
  )
  @ApiError(415, 'Content-Type other than application/json, or a charset other than UTF-8')
  async register(
    @Body() body: RegisterJobDto,
    @Headers(IDEMPOTENCY_HEADER) idempotencyKey: string | undefined,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RegisteredJobDto> {
    if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
      throw new BadRequestException(INVALID_KEY_MESSAGE);
    }
    const spec = resolveJobSpec(body, this.limits);
    if (!spec.ok) throw new BadRequestException(spec.errors);
    const subject = request.user.subject;
    const data = { ...spec.data, owner: subject };
    // Without the header, no Redis round trip more than storing the job.
    if (idempotencyKey === undefined) return this.jobs.register(data);

    const { job, replayed } = await this.idempotency.register(subject, idempotencyKey, data);
    if (replayed) void reply.status(HttpStatus.OK);
    return job;
  }

  @Get('jobs/:job_id')
  @RequireScope('read')
  @ApiOperation({ summary: 'Read a job (scope read)' })
  @ApiJobIdParam()
  @ApiOkResponse({ type: JobViewDto })
  @ApiJobNotFound()
  async getJob(@Param('job_id') rawJobId: string, @Req() request: AuthenticatedRequest): Promise<JobViewDto> {
    // A malformed id cannot name a job: answered without asking Redis.
    const jobId = parseJobId(rawJobId);
    if (jobId === undefined) throw jobNotFound();
    const job = await this.jobs.find(jobId, request.user);
    if (!job) throw jobNotFound();
    return job;
  }

  /** Cancels a job that has not started: 204; 409 once it runs or has finished; 404 when unknown. */
  @Delete('jobs/:job_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequireScope('write')
  @ApiOperation({ summary: 'Cancel a job that has not started (scope write)' })
  @ApiJobIdParam()
  @ApiNoContentResponse({ description: 'Cancelled: the job never runs and is gone' })
  @ApiJobNotFound()
  @ApiError(409, '`Job is running` (left to finish) or `Job has already finished` (left as it is)')
  async cancelJob(@Param('job_id') rawJobId: string, @Req() request: AuthenticatedRequest): Promise<void> {
    const jobId = parseJobId(rawJobId);
    if (jobId === undefined) throw jobNotFound();
    switch (await this.jobs.cancel(jobId, request.user)) {
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
