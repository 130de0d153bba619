import type { FastifyError } from 'fastify';
import { clientErrorBody, frameworkErrorBody } from './framework-errors';

const fastifyError = (code: string, statusCode: number): FastifyError =>
  Object.assign(new Error(`'/a/very/long/path' ${code}`), { code, statusCode, name: 'FastifyError' });

describe('frameworkErrorBody', () => {
  it("should answer a malformed URL with 400 in the API's shape, without echoing the path", () => {
    expect(frameworkErrorBody(fastifyError('FST_ERR_BAD_URL', 400))).toEqual({
      statusCode: 400,
      message: 'Malformed URL',
      error: 'Bad Request',
    });
  });

  it('should answer an over-long parameter with 414', () => {
    expect(frameworkErrorBody(fastifyError('FST_ERR_MAX_PARAM_LENGTH', 414))).toEqual({
      statusCode: 414,
      message: 'Request URL is too long',
      error: 'URI Too Long',
    });
  });

  it('should answer any other framework error with a bare 500', () => {
    expect(frameworkErrorBody(fastifyError('FST_ERR_ASYNC_CONSTRAINT', 500))).toEqual({
      statusCode: 500,
      message: 'Internal server error',
      error: 'Internal Server Error',
    });
  });
});

describe('clientErrorBody', () => {
  it.each<[string | undefined, number, string, string]>([
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'Request timed out', 'Request Timeout'],
    ['HPE_HEADER_OVERFLOW', 431, 'Request headers are too large', 'Request Header Fields Too Large'],
    ['HPE_INVALID_METHOD', 400, 'Malformed HTTP request', 'Bad Request'],
    [undefined, 400, 'Malformed HTTP request', 'Bad Request'],
  ])('should answer %s with %i', (code, statusCode, message, error) => {
    expect(clientErrorBody(Object.assign(new Error('x'), { code }))).toEqual({ statusCode, message, error });
  });
});
