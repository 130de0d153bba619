import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Patch,
  Post,
  Query,
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
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RequireScope } from '../../auth/auth.decorators';
import type { Principal } from '../../auth/principal';
import { ApiAuthenticatedErrors, ApiError, RATE_LIMIT_HEADERS } from '../../openapi/api-responses';
import { JobListDto, JobViewDto, RegisteredBatchDto, RegisteredJobDto } from './dto/job-responses.dto';
import { RegisterJobDto } from './dto/register-job.dto';
import { RegisterBatchDto } from './dto/register-batch.dto';
import { RescheduleJobDto } from './dto/reschedule-job.dto';
import { validateObject } from '../../http/body-validation.pipe';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, parseListQuery } from './list-query';
import { IDEMPOTENCY_HEADER, INVALID_KEY_MESSAGE, isIdempotencyKey } from './idempotency';
import { IdempotencyService } from './idempotency.service';
import { JobsService } from './jobs.service';
import { JobLimits, resolveBatch, resolveJobSpec, resolveReschedule } from './job-spec';
import { JOB_STATES, parseJobId } from './job-view';
import { AppConfig } from '../../config/app-config';
import { occurrenceOf } from '../schedule';

/** What JwtAuthGuard leaves on every request it lets through to this controller. */
type AuthenticatedRequest = FastifyRequest & { user: Principal };

const jobNotFound = (): NotFoundException => new NotFoundException('Job not found');

/** The batch route, which has its own body limit (BATCH_BODY_LIMIT_BYTES, set in app.factory.ts). */
export const REGISTER_BATCH_PATH = '/api/dm-jobqueue/register/batch';

const IDEMPOTENCY_HEADER_DOC = {
  name: 'Idempotency-Key',
  required: false,
  schema: { type: 'string', minLength: 1, maxLength: 255 },
} as const;

/** The 409s of a job that DELETE or PATCH leaves alone. */
function leftAlone(outcome: 'running' | 'finished' | 'expired'): ConflictException {
  switch (outcome) {
    case 'running':
      return new ConflictException('Job is running');
    case 'finished':
      return new ConflictException('Job has already finished');
    case 'expired':
      return new ConflictException('Job has expired');
  }
}

const ApiJobIdParam = (): MethodDecorator =>
  ApiParam({
    name: 'job_id',
    description:
      "The job_id given at registration, or a schedule occurrence's repeat:<schedule_id>:<due ms> (any case)",
  });
const ApiJobNotFound = (): MethodDecorator =>
  ApiError(
    404,
    '`Job not found`: no such job (also one already cancelled or expired), one of another tenant (token `sub`) unless ' +
      'the token has scope admin, or an id that is not one this service gives out',
  );

@ApiTags('jobs')
@ApiBearerAuth()
@ApiAuthenticatedErrors()
@Controller('api/dm-jobqueue')
export class JobsController {
  private readonly limits: JobLimits;
  private readonly batchMaxSize: number;

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
    this.batchMaxSize = config.get('JOB_BATCH_MAX_SIZE');
  }

  /** 201 with a new job; 200 with the first job when the Idempotency-Key was already used for this request. */
  @Post('register')
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  @ApiOperation({ summary: 'Register a job (scope write)', description: 'The job runs once its delay has passed.' })
  @ApiBody({ type: RegisterJobDto, required: false, description: 'A JSON object; an empty body counts as {}' })
  @ApiHeader({
    ...IDEMPOTENCY_HEADER_DOC,
    description:
      'Makes the request safe to retry: the same key from the same token subject within 24 h stores one job ' +
      '(200 with the first answer); 1 to 255 printable ASCII characters.',
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
    // Without the header, no Redis round trip more than storing the job.
    if (idempotencyKey === undefined) return this.jobs.register(spec.data, subject);

    const { answer, replayed } = await this.idempotency.register(subject, idempotencyKey, spec.data);
    if (replayed) void reply.status(HttpStatus.OK);
    return answer;
  }

  /** 201 with every job, or 4xx/503 with none stored; 200 with the first answer on an Idempotency-Key replay. */
  @Post('register/batch')
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  @ApiOperation({
    summary: 'Register many jobs at once (scope write)',
    description:
      'Every item is checked first, as a register body; then all of them are stored in one Redis transaction, or ' +
      'none. The pending quota counts every item.',
  })
  @ApiBody({ type: RegisterBatchDto })
  @ApiHeader({
    ...IDEMPOTENCY_HEADER_DOC,
    description:
      'For the batch as a whole: the same key from the same token subject within 24 h stores the batch once ' +
      '(200 with the first answer).',
  })
  @ApiCreatedResponse({ type: RegisteredBatchDto, description: 'Every job is stored; answers in request order' })
  @ApiOkResponse({ type: RegisteredBatchDto, description: "Idempotency-Key replay: the first request's answer" })
  @ApiError(
    400,
    'Invalid body: not {"jobs": [...]}, no items or more than JOB_BATCH_MAX_SIZE (default 1000), or an invalid item ' +
      '(messages prefixed `jobs.<index>.`); nothing is stored',
  )
  @ApiError(409, 'Idempotency-Key already used with a different request, or that request is still in progress')
  @ApiError(413, 'Body over BATCH_BODY_LIMIT_BYTES (default 8388608)')
  @ApiError(
    429,
    '`Pending job quota exceeded`: the batch would take the token subject over TENANT_MAX_PENDING_JOBS; nothing is ' +
      'stored. Or `Too many requests` (with Retry-After)',
    RATE_LIMIT_HEADERS,
  )
  @ApiError(415, 'Content-Type other than application/json, or a charset other than UTF-8')
  async registerBatch(
    @Body() body: RegisterBatchDto,
    @Headers(IDEMPOTENCY_HEADER) idempotencyKey: string | undefined,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RegisteredBatchDto> {
    if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
      throw new BadRequestException(INVALID_KEY_MESSAGE);
    }
    if (body.jobs.length > this.batchMaxSize) {
      // A list, as every other message about the body (class-validator's wording for ArrayMaxSize).
      throw new BadRequestException([`jobs must contain no more than ${this.batchMaxSize} elements`]);
    }
    const batch = resolveBatch(body.jobs, (item) => validateObject(item, RegisterJobDto), this.limits);
    if (!batch.ok) throw new BadRequestException(batch.errors);
    const { requests } = batch;
    const subject = request.user.subject;
    if (idempotencyKey === undefined) return this.jobs.registerBatch(requests, subject);

    const { answer, replayed } = await this.idempotency.registerBatch(subject, idempotencyKey, requests);
    if (replayed) void reply.status(HttpStatus.OK);
    return answer;
  }

  @Get('jobs')
  @RequireScope('read')
  @ApiOperation({
    summary: 'List jobs, newest first (scope read)',
    description:
      "The token subject's jobs (an admin's: every tenant's, or `owner`'s). Following next_cursor returns each job " +
      'once, also while jobs are registered meanwhile; jobs that retention or a cancel removed are not listed.',
  })
  @ApiQuery({ name: 'state', required: false, enum: JOB_STATES })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT },
  })
  @ApiQuery({ name: 'cursor', required: false, description: 'The next_cursor of the previous page' })
  @ApiQuery({ name: 'owner', required: false, description: 'Scope admin only: one tenant (token `sub`)' })
  @ApiOkResponse({ type: JobListDto })
  @ApiError(400, 'A bad parameter: unknown, given twice, a state or limit out of range, a cursor not given out here')
  async listJobs(@Query() raw: Record<string, unknown>, @Req() request: AuthenticatedRequest): Promise<JobListDto> {
    const parsed = parseListQuery(raw);
    if (!parsed.ok) throw new BadRequestException(parsed.errors);
    const { user } = request;
    // Filtering by owner is the admin's; anyone may name themselves.
    if (parsed.query.owner !== undefined && !user.scopes.has('admin') && parsed.query.owner !== user.subject) {
      throw new ForbiddenException('Insufficient scope');
    }
    return this.jobs.list(user, parsed.query);
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
  @ApiError(
    409,
    '`Job is running` (left to finish), `Job has already finished`, `Job has expired` (left as it is), or `Job is an ' +
      'occurrence of a schedule` (its schedule decides when it runs: delete the schedule instead)',
  )
  async cancelJob(@Param('job_id') rawJobId: string, @Req() request: AuthenticatedRequest): Promise<void> {
    const jobId = parseJobId(rawJobId);
    if (jobId === undefined) throw jobNotFound();
    await this.refuseOccurrence(jobId, request.user);
    const outcome = await this.jobs.cancel(jobId, request.user);
    if (outcome === 'cancelled') return;
    if (outcome === 'not-found') throw jobNotFound();
    throw leftAlone(outcome);
  }

  /** Moves a job that has not started to a new due time: 200 with its view; 409 once it runs or has ended. */
  @Patch('jobs/:job_id')
  @RequireScope('write')
  @ApiOperation({ summary: 'Move a job that has not started to a new time (scope write)' })
  @ApiJobIdParam()
  @ApiBody({ type: RescheduleJobDto, description: 'Exactly one of delay_seconds and run_at' })
  @ApiOkResponse({ type: JobViewDto, description: 'Moved: the job as it is now' })
  @ApiError(
    400,
    'Invalid body: neither or both of delay_seconds and run_at, a wrong type, beyond JOB_MAX_DELAY_SECONDS, an ' +
      "unknown property, or a time not before the job's expires_at",
  )
  @ApiJobNotFound()
  @ApiError(
    409,
    '`Job is running` (left to finish), `Job has already finished`, `Job has expired` (left as it is), or `Job is an ' +
      'occurrence of a schedule` (its schedule decides when it runs: delete the schedule instead)',
  )
  async rescheduleJob(
    @Param('job_id') rawJobId: string,
    @Body() body: RescheduleJobDto,
    @Req() request: AuthenticatedRequest,
  ): Promise<JobViewDto> {
    const jobId = parseJobId(rawJobId);
    const resolved = resolveReschedule(body, this.limits);
    if (!resolved.ok) throw new BadRequestException(resolved.errors);
    if (jobId === undefined) throw jobNotFound();
    await this.refuseOccurrence(jobId, request.user);
    const outcome = await this.jobs.move(jobId, request.user, resolved.schedule);
    if (typeof outcome === 'object') return outcome;
    if (outcome === 'not-found') throw jobNotFound();
    if (outcome === 'after-expiry') throw new BadRequestException(["the new time must be before the job's expires_at"]);
    throw leftAlone(outcome);
  }

  /**
   * A schedule's occurrence is neither cancelled nor moved on its own: BullMQ adds the next occurrence when this one
   * starts, so one taken out would end its schedule. 404 as for any job the caller cannot see.
   */
  private async refuseOccurrence(jobId: string, principal: Principal): Promise<void> {
    if (occurrenceOf(jobId) === undefined) return;
    if (!(await this.jobs.find(jobId, principal))) throw jobNotFound();
    throw new ConflictException('Job is an occurrence of a schedule');
  }
}
