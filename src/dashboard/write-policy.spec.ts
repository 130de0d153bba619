import { JOB_DATA_MESSAGE, CROSS_SITE_MESSAGE, READ_ONLY_MESSAGE, writeRefusal, WriteRequest } from './write-policy';

const HOST = 'jobs.internal:8080';
const request = (method: string, extra: Partial<WriteRequest> = {}): WriteRequest => ({
  method,
  writesJobData: false,
  headers: { host: HOST },
  ...extra,
});

describe('writeRefusal', () => {
  describe('read-only', () => {
    it.each(['GET', 'HEAD', 'get'])('should let %s through', (method) => {
      expect(
        writeRefusal(request(method, { headers: { host: HOST, origin: 'https://evil.example' } }), true),
      ).toBeUndefined();
    });

    it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'put'])(
      'should refuse %s with 405, same-origin or not',
      (method) => {
        for (const headers of [{ host: HOST }, { host: HOST, 'sec-fetch-site': 'same-origin' }]) {
          expect(writeRefusal(request(method, { headers }), true)).toEqual({
            statusCode: 405,
            message: READ_ONLY_MESSAGE,
            headers: { allow: 'GET, HEAD' },
          });
        }
      },
    );

    it('should refuse adding a job as read-only, not as an add', () => {
      expect(writeRefusal(request('POST', { writesJobData: true }), true)).toMatchObject({
        statusCode: 405,
        message: READ_ONLY_MESSAGE,
      });
    });
  });

  describe('writable', () => {
    it.each(['GET', 'HEAD', 'OPTIONS'])('should let %s through even from another site', (method) => {
      expect(
        writeRefusal(request(method, { headers: { host: HOST, 'sec-fetch-site': 'cross-site' } }), false),
      ).toBeUndefined();
    });

    it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('should let a same-origin %s through', (method) => {
      expect(
        writeRefusal(
          request(method, { headers: { host: HOST, origin: `http://${HOST}`, 'sec-fetch-site': 'same-origin' } }),
          false,
        ),
      ).toBeUndefined();
    });

    it('should let a request without Origin and Sec-Fetch-Site through (curl, scripts)', () => {
      expect(writeRefusal(request('PUT'), false)).toBeUndefined();
    });

    it.each([
      ['a foreign Origin', { host: HOST, origin: 'https://evil.example' }],
      ['Sec-Fetch-Site: cross-site', { host: HOST, 'sec-fetch-site': 'cross-site' }],
    ])('should refuse a state change with %s with 403', (_what, headers) => {
      expect(writeRefusal(request('PUT', { headers }), false)).toEqual({
        statusCode: 403,
        message: CROSS_SITE_MESSAGE,
        headers: {},
      });
    });

    it('should refuse adding a job even from the same origin', () => {
      const sameOrigin = { host: HOST, origin: `http://${HOST}`, 'sec-fetch-site': 'same-origin' };
      for (const headers of [sameOrigin, { host: HOST }, { host: HOST, origin: 'https://evil.example' }]) {
        expect(writeRefusal(request('POST', { writesJobData: true, headers }), false)).toEqual({
          statusCode: 403,
          message: JOB_DATA_MESSAGE,
          headers: {},
        });
      }
    });
  });
});
