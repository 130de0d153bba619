import { ArgumentMetadata, BadRequestException } from '@nestjs/common';
import { RegisterJobDto } from '../jobs/api/dto/register-job.dto';
import { BodyValidationPipe } from './body-validation.pipe';

const body: ArgumentMetadata = { type: 'body', metatype: RegisterJobDto };

/** The response a client would get for `value`, failing the test when the pipe accepts it. */
async function rejectionOf(value: unknown): Promise<object> {
  const error: unknown = await new BodyValidationPipe().transform(value, body).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BadRequestException);
  return (error as BadRequestException).getResponse() as object;
}

describe('BodyValidationPipe', () => {
  let pipe: BodyValidationPipe;

  beforeEach(() => {
    pipe = new BodyValidationPipe();
  });

  it('should turn an absent body into an empty RegisterJobDto', async () => {
    const result = await pipe.transform(undefined, body);

    expect(result).toBeInstanceOf(RegisterJobDto);
    expect(result).toEqual({});
  });

  it.each([null, [], ['message'], 'x', 5, true])('should refuse the non-object body %j', async (value) => {
    expect(await rejectionOf(value)).toEqual({
      statusCode: 400,
      message: 'Request body must be a JSON object',
      error: 'Bad Request',
    });
  });

  it.each(['5', 1.5, true, '', [5], { n: 5 }])('should refuse delay_seconds %j as not an integer', async (value) => {
    expect(await rejectionOf({ delay_seconds: value })).toEqual({
      statusCode: 400,
      message: ['delay_seconds must be an integer number'],
      error: 'Bad Request',
    });
  });

  it.each(['5', 1.5, true])('should refuse max_retry %j as not an integer', async (value) => {
    expect(await rejectionOf({ max_retry: value })).toEqual({
      statusCode: 400,
      message: ['max_retry must be an integer number'],
      error: 'Bad Request',
    });
  });

  it('should refuse an unknown property such as jobId', async () => {
    expect(await rejectionOf({ message: 'hi', jobId: 'fixed' })).toEqual({
      statusCode: 400,
      message: ['property jobId should not exist'],
      error: 'Bad Request',
    });
  });

  // class-transformer skips keys that name a function on the instance; the pipe checks plain keys first.
  it.each(['toString', 'valueOf', 'constructor', 'hasOwnProperty'])(
    'should refuse an unknown property named like an Object.prototype method (%s)',
    async (key) => {
      expect(await rejectionOf({ [key]: 'x' })).toMatchObject({ message: [`property ${key} should not exist`] });
    },
  );

  it('should refuse negative integers', async () => {
    expect(await rejectionOf({ delay_seconds: -1 })).toEqual({
      statusCode: 400,
      message: ['delay_seconds must not be less than 0'],
      error: 'Bad Request',
    });
    expect(await rejectionOf({ max_retry: -5 })).toEqual({
      statusCode: 400,
      message: ['max_retry must not be less than 0'],
      error: 'Bad Request',
    });
  });

  it.each([5, true, ['hi'], { text: 'hi' }])('should refuse the non-string message %j', async (value) => {
    expect(await rejectionOf({ message: value })).toEqual({
      statusCode: 400,
      message: ['message must be a string'],
      error: 'Bad Request',
    });
  });

  it('should report one message per invalid field', async () => {
    expect(await rejectionOf({ message: 5, delay_seconds: '5', max_retry: -1 })).toEqual({
      statusCode: 400,
      message: [
        'message must be a string',
        'delay_seconds must be an integer number',
        'max_retry must not be less than 0',
      ],
      error: 'Bad Request',
    });
  });

  it('should pass a valid body through as a RegisterJobDto', async () => {
    const result = await pipe.transform({ message: 'Hello, World!', delay_seconds: 0, max_retry: 3 }, body);

    expect(result).toBeInstanceOf(RegisterJobDto);
    expect(result).toEqual({ message: 'Hello, World!', delay_seconds: 0, max_retry: 3 });
  });

  it('should accept null for every field (the defaults apply later)', async () => {
    const result = await pipe.transform({ message: null, delay_seconds: null, max_retry: null }, body);

    expect(result).toBeInstanceOf(RegisterJobDto);
    expect(result).toEqual({ message: null, delay_seconds: null, max_retry: null });
  });

  it('should leave non-body arguments to the standard checks', async () => {
    await expect(pipe.transform('abc', { type: 'param', metatype: String, data: 'id' })).resolves.toBe('abc');
  });
});
