import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
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
import { AppConfig } from '../../config/app-config';
import { ApiAuthenticatedErrors, ApiError, RATE_LIMIT_HEADERS } from '../../openapi/api-responses';
import { CreateScheduleDto } from './dto/create-schedule.dto';
import { ScheduleListDto, ScheduleViewDto } from './dto/schedule-responses.dto';
import { DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, parseListQuery } from './list-query';
import { resolveScheduleSpec, ScheduleLimits } from './schedule-spec';
import { SchedulesService } from './schedules.service';
import { parseScheduleId } from './job-view';
import { IDEMPOTENCY_HEADER, INVALID_KEY_MESSAGE, isIdempotencyKey } from './idempotency';
import { IdempotencyService } from './idempotency.service';

type AuthenticatedRequest = FastifyRequest & { user: Principal };

const scheduleNotFound = (): NotFoundException => new NotFoundException('Schedule not found');

const ApiScheduleIdParam = (): MethodDecorator =>
  ApiParam({ name: 'schedule_id', format: 'uuid', description: 'The schedule_id given at creation (any case)' });
const ApiScheduleNotFound = (): MethodDecorator =>
  ApiError(
    404,
    '`Schedule not found`: no such schedule (also one deleted, or ended longer ago than JOB_KEEP_COMPLETED_SECONDS), ' +
      'one of another tenant (token `sub`) unless the token has scope admin, or an id that is not a UUID v4',
  );

@ApiTags('schedules')
@ApiBearerAuth()
@ApiAuthenticatedErrors()
@Controller('api/dm-jobqueue/schedules')
export class SchedulesController {
  private readonly limits: ScheduleLimits;

  constructor(
    private readonly schedules: SchedulesService,
    private readonly idempotency: IdempotencyService,
    config: AppConfig,
  ) {
    this.limits = {
      maxDelaySeconds: config.get('JOB_MAX_DELAY_SECONDS'),
      maxRetry: config.get('JOB_MAX_RETRY'),
      messageMaxLength: config.get('JOB_MESSAGE_MAX_LENGTH'),
      minIntervalSeconds: config.get('SCHEDULE_MIN_INTERVAL_SECONDS'),
    };
  }

  @Post()
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  @ApiOperation({
    summary: 'Create a recurring schedule (scope write)',
    description:
      'Each occurrence runs as a job that prints its line, once, also with many workers. An occurrence that falls ' +
      'due while no worker runs (or Redis is away) runs once, late, when one is back; the ones after it keep to ' +
      'the schedule (missed occurrences are not made up).',
  })
  @ApiBody({ type: CreateScheduleDto })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    schema: { type: 'string', minLength: 1, maxLength: 255 },
    description:
      'Makes the request safe to retry: the same key from the same token subject within 24 h creates one schedule ' +
      '(200 with the first answer, as it was then).',
  })
  @ApiCreatedResponse({ type: ScheduleViewDto, description: 'The schedule is stored; next_run_at is its first' })
  @ApiOkResponse({ type: ScheduleViewDto, description: "Idempotency-Key replay: the first request's answer" })
  @ApiError(
    400,
    'Invalid body, one message per field: neither or both of cron and every_seconds, an invalid cron, an unknown ' +
      'tz, occurrences closer than SCHEDULE_MIN_INTERVAL_SECONDS, end_at not after start_at or not in the future, ' +
      'a wrong type or an unknown property; an invalid Idempotency-Key',
  )
  @ApiError(409, 'Idempotency-Key already used with a different request, or that request is still in progress')
  @ApiError(
    429,
    '`Schedule quota exceeded`: the token subject already has TENANT_MAX_SCHEDULES (default 100) live schedules, and ' +
      'nothing is stored; or `Too many requests` (with Retry-After)',
    RATE_LIMIT_HEADERS,
  )
  @ApiError(415, 'Content-Type other than application/json, or a charset other than UTF-8')
  async create(
    @Body() body: CreateScheduleDto,
    @Headers(IDEMPOTENCY_HEADER) idempotencyKey: string | undefined,
    @Req() request: AuthenticatedRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ScheduleViewDto> {
    if (idempotencyKey !== undefined && !isIdempotencyKey(idempotencyKey)) {
      throw new BadRequestException(INVALID_KEY_MESSAGE);
    }
    const spec = resolveScheduleSpec(body, this.limits);
    if (!spec.ok) throw new BadRequestException(spec.errors);
    const subject = request.user.subject;
    if (idempotencyKey === undefined) return this.schedules.create(spec.request, subject);
    const { answer, replayed } = await this.idempotency.createSchedule(subject, idempotencyKey, spec.request);
    if (replayed) void reply.status(HttpStatus.OK);
    return answer;
  }

  @Get()
  @RequireScope('read')
  @ApiOperation({
    summary: 'List schedules, newest first (scope read)',
    description: "The token subject's schedules (an admin's: every tenant's, or `owner`'s), live and ended ones.",
  })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT },
  })
  @ApiQuery({ name: 'cursor', required: false, description: 'The next_cursor of the previous page' })
  @ApiQuery({ name: 'owner', required: false, description: 'Scope admin only: one tenant (token `sub`)' })
  @ApiOkResponse({ type: ScheduleListDto })
  @ApiError(400, 'A bad parameter: unknown, given twice, a limit out of range, a cursor not given out here')
  async list(@Query() raw: Record<string, unknown>, @Req() request: AuthenticatedRequest): Promise<ScheduleListDto> {
    const parsed = parseListQuery(raw, []);
    if (!parsed.ok) throw new BadRequestException(parsed.errors);
    const { user } = request;
    if (parsed.query.owner !== undefined && !user.scopes.has('admin') && parsed.query.owner !== user.subject) {
      throw new ForbiddenException('Insufficient scope');
    }
    return this.schedules.list(user, parsed.query);
  }

  @Get(':schedule_id')
  @RequireScope('read')
  @ApiOperation({ summary: 'Read a schedule: its next occurrence and how many have run (scope read)' })
  @ApiScheduleIdParam()
  @ApiOkResponse({ type: ScheduleViewDto })
  @ApiScheduleNotFound()
  async find(@Param('schedule_id') rawId: string, @Req() request: AuthenticatedRequest): Promise<ScheduleViewDto> {
    const scheduleId = parseScheduleId(rawId);
    if (scheduleId === undefined) throw scheduleNotFound();
    const schedule = await this.schedules.find(scheduleId, request.user);
    if (!schedule) throw scheduleNotFound();
    return schedule;
  }

  @Delete(':schedule_id')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequireScope('write')
  @ApiOperation({
    summary: 'Delete a schedule (scope write)',
    description:
      'No occurrence starts after it; one already running finishes. Its past occurrences stay in the job list.',
  })
  @ApiScheduleIdParam()
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiScheduleNotFound()
  async delete(@Param('schedule_id') rawId: string, @Req() request: AuthenticatedRequest): Promise<void> {
    const scheduleId = parseScheduleId(rawId);
    if (scheduleId === undefined || !(await this.schedules.delete(scheduleId, request.user))) throw scheduleNotFound();
  }
}
