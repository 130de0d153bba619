import { EXPIRED_REASON, JobData } from '../job';
import { decodeCursor, encodeCursor, parseJobId, publicJobState, StoredJob, toJobView } from './job-view';

const ID = '0b8f4c2e-7a1d-4e3b-9c5f-1a2b3c4d5e6f';
const CREATED = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const data: JobData = { message: 'Hello, World!', delay_seconds: 10, max_retry: 3, owner: 'alice' };

const stored = (overrides: Partial<StoredJob> = {}): StoredJob => ({
  id: ID,
  data,
  timestamp: CREATED,
  attemptsMade: 0,
  processedOn: undefined,
  finishedOn: undefined,
  failedReason: undefined as unknown as string,
  ...overrides,
});

describe('parseJobId', () => {
  it('should accept a UUID v4 as randomUUID makes it', () => {
    expect(parseJobId(ID)).toBe(ID);
  });

  it('should accept upper case and return the stored lower-case form', () => {
    expect(parseJobId(ID.toUpperCase())).toBe(ID);
  });

  it.each([
    ['empty', ''],
    ['undefined', undefined],
    ['not a UUID', 'abc'],
    ['a UUID v1', '0b8f4c2e-7a1d-1e3b-9c5f-1a2b3c4d5e6f'],
    ['a wrong variant', '0b8f4c2e-7a1d-4e3b-7c5f-1a2b3c4d5e6f'],
    ['no dashes', '0b8f4c2e7a1d4e3b9c5f1a2b3c4d5e6f'],
    ['braces', `{${ID}}`],
    ['a trailing newline', `${ID}\n`],
    ['a BullMQ key suffix', `${ID}:lock`],
    ['a glob', '*'],
    ['an occurrence without its due time', `repeat:${ID}`],
    ['an occurrence with a due time that is not a number', `repeat:${ID}:12a`],
    ['an occurrence of a schedule id that is not a UUID v4', 'repeat:abc:1796182584056'],
    ['an occurrence with a key suffix', `repeat:${ID}:1796182584056:lock`],
  ])('should refuse %s', (_, raw) => {
    expect(parseJobId(raw)).toBeUndefined();
  });

  it("should accept a schedule occurrence's id (repeat:<schedule id>:<due ms>), in any case", () => {
    expect(parseJobId(`REPEAT:${ID.toUpperCase()}:1796182584056`)).toBe(`repeat:${ID}:1796182584056`);
  });
});

describe('publicJobState', () => {
  it.each([
    ['delayed', 'delayed'],
    ['active', 'active'],
    ['completed', 'completed'],
    ['failed', 'failed'],
    ['waiting', 'waiting'],
    ['wait', 'waiting'],
    ['paused', 'waiting'],
    ['prioritized', 'waiting'],
    ['waiting-children', 'waiting'],
  ])('should show BullMQ state %s as %s', (state, shown) => {
    expect(publicJobState(state)).toBe(shown);
  });

  it.each(['unknown', '', 'stalled'])('should treat %j as no such job', (state) => {
    expect(publicJobState(state)).toBeUndefined();
  });
});

describe('toJobView', () => {
  it("should show a schedule's occurrence with its schedule_id and the due time its id names", () => {
    const due = CREATED + 60_500;
    const view = toJobView(
      stored({ id: `repeat:${ID}:${due}`, repeatJobKey: ID, data: { ...data, delay_seconds: 0 } }),
      'delayed',
      CREATED,
    );
    expect(view).toMatchObject({
      job_id: `repeat:${ID}:${due}`,
      schedule_id: ID,
      run_at: new Date(due).toISOString(),
      delay_seconds: 61,
      state: 'delayed',
    });
  });

  it('should show a job that has not run with null timestamps and reason', () => {
    expect(toJobView(stored(), 'delayed')).toEqual({
      job_id: ID,
      owner: 'alice',
      schedule_id: null,
      state: 'delayed',
      message: 'Hello, World!',
      delay_seconds: 10,
      max_retry: 3,
      attempts_made: 0,
      created_at: '2026-01-02T03:04:05.678Z',
      run_at: '2026-01-02T03:04:15.678Z',
      expires_at: null,
      processed_at: null,
      finished_at: null,
      failed_reason: null,
    });
  });

  it('should show when a finished job ran, and why its last attempt failed', () => {
    const view = toJobView(
      stored({ attemptsMade: 4, processedOn: CREATED + 20_000, finishedOn: CREATED + 20_005, failedReason: 'boom' }),
      'failed',
    );

    expect(view).toMatchObject({
      state: 'failed',
      attempts_made: 4,
      processed_at: '2026-01-02T03:04:25.678Z',
      finished_at: '2026-01-02T03:04:25.683Z',
      failed_reason: 'boom',
    });
  });

  it('should compute run_at from the requested delay, not from a retry backoff', () => {
    expect(toJobView(stored({ data: { ...data, delay_seconds: 0 } }), 'waiting').run_at).toBe(
      '2026-01-02T03:04:05.678Z',
    );
  });

  it('should show a null owner for a job stored before owners were recorded', () => {
    const { owner: _owner, ...unowned } = data;
    expect(toJobView(stored({ data: unowned }), 'delayed').owner).toBeNull();
  });

  it('should show an empty failure reason as null', () => {
    expect(toJobView(stored({ failedReason: '' }), 'completed').failed_reason).toBeNull();
  });
});

describe('toJobView with run_at and expires_at', () => {
  const expiresAt = CREATED + 60_000;
  const expiring = (overrides: Partial<StoredJob> = {}) =>
    stored({ data: { ...data, run_at: CREATED + 30_000, expires_at: expiresAt }, ...overrides });

  it('should show the stored run_at rather than created_at + delay_seconds (a moved job)', () => {
    expect(toJobView(expiring(), 'delayed', CREATED).run_at).toBe('2026-01-02T03:04:35.678Z');
  });

  it('should show expires_at, and the job as delayed until then', () => {
    expect(toJobView(expiring(), 'delayed', expiresAt - 1)).toMatchObject({
      state: 'delayed',
      expires_at: '2026-01-02T03:05:05.678Z',
      finished_at: null,
    });
  });

  it.each(['delayed', 'waiting'] as const)(
    'should show a %s job past its expires_at as expired, ended then',
    (state) => {
      expect(toJobView(expiring(), state, expiresAt)).toMatchObject({
        state: 'expired',
        finished_at: '2026-01-02T03:05:05.678Z',
      });
    },
  );

  it('should show a job a worker dropped as expired, with finished_at its expires_at', () => {
    const dropped = expiring({ attemptsMade: 1, finishedOn: expiresAt + 5_000, failedReason: EXPIRED_REASON });
    expect(toJobView({ ...dropped, processedOn: expiresAt + 5_000 }, 'failed', expiresAt + 10_000)).toMatchObject({
      state: 'expired',
      attempts_made: 0,
      processed_at: null,
      finished_at: '2026-01-02T03:05:05.678Z',
      failed_reason: EXPIRED_REASON,
    });
  });

  it.each(['active', 'completed'] as const)('should leave a %s job as it is after its expires_at', (state) => {
    expect(toJobView(expiring(), state, expiresAt + 1).state).toBe(state);
  });

  it('should leave a job that failed for another reason as failed', () => {
    expect(toJobView(expiring({ failedReason: 'boom' }), 'failed', expiresAt + 1).state).toBe('failed');
  });
});

describe('encodeCursor / decodeCursor', () => {
  it('should round-trip a position', () => {
    const cursor = { score: '1796173033784', id: ID };
    expect(encodeCursor(cursor)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  });

  it.each([
    ['not base64url', 'a+b/c='],
    ['no separator', Buffer.from('1796173033784').toString('base64url')],
    ['a score that is not a number', Buffer.from(`abc:${ID}`).toString('base64url')],
    ['an id that is not a UUID', Buffer.from('1:abc').toString('base64url')],
    ['an upper-case id', Buffer.from(`1:${ID.toUpperCase()}`).toString('base64url')],
    ['an empty string', ''],
    ['an over-long string', 'A'.repeat(201)],
  ])('should refuse %s', (_, text) => {
    expect(decodeCursor(text)).toBeUndefined();
  });
});
