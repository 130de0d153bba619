import type { ScheduleRequest } from '../schedule';
import { parseDescribeReply, StoredSchedule, toScheduleView } from './schedule-view';

const ID = '3f0c1e2d-4b5a-4c6d-8e7f-9a0b1c2d3e4f';
const CREATED = Date.UTC(2026, 11, 1, 0, 0, 0);
const NEXT = CREATED + 60_000;
const spec: ScheduleRequest = { message: 'tick', max_retry: 1, every_seconds: 60, tz: 'UTC' };

const stored = (overrides: Partial<StoredSchedule> = {}, request: Partial<ScheduleRequest> = {}): StoredSchedule => ({
  record: { owner: 'alice', created_at: String(CREATED), spec: JSON.stringify({ ...spec, ...request }) },
  nextMillis: NEXT,
  created: 1,
  pending: true,
  ...overrides,
});

describe('parseDescribeReply', () => {
  it('should read the flat hash, the numbers and Lua false (null)', () => {
    expect(parseDescribeReply([['owner', 'alice', 'created_at', '5'], '70', '3', 1])).toEqual({
      record: { owner: 'alice', created_at: '5' },
      nextMillis: 70,
      created: 3,
      pending: true,
    });
    expect(parseDescribeReply([['owner', 'alice'], null, null, 0])).toMatchObject({ nextMillis: null, created: null });
  });
});

describe('toScheduleView', () => {
  it('should show a live schedule with its next occurrence, none run yet', () => {
    expect(toScheduleView(ID, stored(), CREATED)).toEqual({
      schedule_id: ID,
      owner: 'alice',
      state: 'active',
      message: 'tick',
      max_retry: 1,
      cron: null,
      every_seconds: 60,
      tz: 'UTC',
      start_at: null,
      end_at: null,
      limit: null,
      created_at: new Date(CREATED).toISOString(),
      next_run_at: new Date(NEXT).toISOString(),
      occurrences: 0,
      ended_at: null,
    });
  });

  it('should count the occurrences that started: those added, less the one still pending', () => {
    expect(toScheduleView(ID, stored({ created: 5 }), CREATED)).toMatchObject({ occurrences: 4, state: 'active' });
  });

  it('should show no next run while an occurrence has just started and the next is being added', () => {
    expect(toScheduleView(ID, stored({ created: 5, pending: false }), CREATED)).toMatchObject({
      state: 'active',
      next_run_at: null,
      occurrences: 5,
    });
  });

  it('should show a schedule whose limit is reached as ended, before the worker has recorded it', () => {
    expect(toScheduleView(ID, stored({ created: 3, pending: false }, { limit: 3 }), CREATED)).toMatchObject({
      state: 'ended',
      next_run_at: null,
      occurrences: 3,
      ended_at: null,
    });
  });

  it('should show a schedule past its end_at with nothing pending as ended', () => {
    const view = toScheduleView(ID, stored({ pending: false }, { end_at: CREATED + 1_000 }), CREATED + 2_000);
    expect(view).toMatchObject({ state: 'ended', next_run_at: null, end_at: new Date(CREATED + 1_000).toISOString() });
  });

  it('should show the recorded end and final count once the worker ended it', () => {
    const ended = stored({ nextMillis: null, created: null, pending: false });
    ended.record = { ...ended.record, ended_at: String(CREATED + 5_000), occurrences: '7' };
    expect(toScheduleView(ID, ended, CREATED + 9_000)).toMatchObject({
      state: 'ended',
      occurrences: 7,
      next_run_at: null,
      ended_at: new Date(CREATED + 5_000).toISOString(),
    });
  });

  it('should show a schedule being created (no BullMQ scheduler yet) as active, with no next run', () => {
    expect(toScheduleView(ID, stored({ nextMillis: null, created: null, pending: false }), CREATED)).toMatchObject({
      state: 'active',
      next_run_at: null,
      occurrences: 0,
    });
  });

  it('should show the cron and its zone', () => {
    const view = toScheduleView(ID, stored({}, { every_seconds: undefined, cron: '0 9 * * 1-5', tz: 'Asia/Tokyo' }), 0);
    expect(view).toMatchObject({ cron: '0 9 * * 1-5', every_seconds: null, tz: 'Asia/Tokyo' });
  });

  it('should not show a record this service did not write', () => {
    expect(toScheduleView(ID, { ...stored(), record: { owner: 'alice', spec: '{' } }, 0)).toBeUndefined();
    expect(toScheduleView(ID, { ...stored(), record: { spec: '{}' } }, 0)).toBeUndefined();
  });
});
