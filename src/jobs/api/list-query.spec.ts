import { encodeCursor } from './job-view';
import { parseListQuery } from './list-query';

const ID = '0b8f4c2e-7a1d-4e3b-9c5f-1a2b3c4d5e6f';

describe('parseListQuery', () => {
  it('should default to 20 jobs of any state from the start', () => {
    expect(parseListQuery({})).toEqual({ ok: true, query: { limit: 20 } });
  });

  it('should read every parameter', () => {
    const cursor = encodeCursor({ score: '1796173033784', id: ID });
    expect(parseListQuery({ state: 'expired', limit: '100', cursor, owner: 'alice' })).toEqual({
      ok: true,
      query: { state: 'expired', limit: 100, cursor: { score: '1796173033784', id: ID }, owner: 'alice' },
    });
  });

  it.each(['delayed', 'waiting', 'active', 'completed', 'failed', 'expired'])('should accept state %s', (state) => {
    expect(parseListQuery({ state })).toMatchObject({ ok: true, query: { state } });
  });

  it.each([
    [{ limit: '0' }, 'limit must be an integer from 1 to 100'],
    [{ limit: '101' }, 'limit must be an integer from 1 to 100'],
    [{ limit: '1.5' }, 'limit must be an integer from 1 to 100'],
    [{ limit: '' }, 'limit must be an integer from 1 to 100'],
    [{ limit: '-1' }, 'limit must be an integer from 1 to 100'],
    [
      { state: 'Delayed' },
      'state must be one of the following values: delayed, waiting, active, completed, failed, expired',
    ],
    [{ cursor: 'garbage!' }, 'cursor must be a next_cursor this service gave out'],
    [{ owner: '' }, 'owner must be 1 to 1024 characters of Unicode text'],
    [{ state: ['delayed', 'failed'] }, 'state must be given once'],
    [{ page: '2' }, 'property page should not exist'],
  ])('should refuse %j', (raw, message) => {
    expect(parseListQuery(raw)).toEqual({ ok: false, errors: [message] });
  });

  it('should report every bad parameter at once', () => {
    expect(parseListQuery({ limit: '0', state: 'x', foo: '1' })).toMatchObject({
      ok: false,
      errors: [
        'property foo should not exist',
        expect.stringMatching(/^state must be one of/),
        'limit must be an integer from 1 to 100',
      ],
    });
  });

  it('should take no state where there are no states to filter by (the schedule list)', () => {
    expect(parseListQuery({ state: 'active', limit: '5' }, [])).toEqual({
      ok: false,
      errors: ['property state should not exist'],
    });
    expect(parseListQuery({ limit: '5', owner: 'alice' }, [])).toEqual({
      ok: true,
      query: { limit: 5, owner: 'alice' },
    });
  });
});
