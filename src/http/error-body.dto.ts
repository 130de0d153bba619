// The error body schema for the OpenAPI document; HttpExceptionFilter sends this shape (ErrorBody).
import { ApiProperty } from '@nestjs/swagger';
import type { ErrorBody } from './http-exception.filter';

export class ErrorBodyDto implements ErrorBody {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode!: number;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'One message, or one per invalid field (400 on a body)',
    example: ['delay_seconds must not be less than 0'],
  })
  message!: string | string[];

  @ApiProperty({ description: 'The status text', example: 'Bad Request' })
  error!: string;
}
