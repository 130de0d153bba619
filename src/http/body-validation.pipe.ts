import { ArgumentMetadata, BadRequestException, Injectable, Type, ValidationPipe } from '@nestjs/common';
import { getMetadataStorage, validateSync, ValidationError, ValidatorOptions } from 'class-validator';

/** Properties a DTO class declares through class-validator decorators. */
function declaredProperties(metatype: Type): ReadonlySet<string> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(metatype, '', true, false);
  return new Set(metadata.map((entry) => entry.propertyName));
}

/** class-validator's messages, one per invalid property (validation stops at the first failed rule). */
function messages(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => Object.values(error.constraints ?? {}));
}

const VALIDATOR_OPTIONS: ValidatorOptions = {
  forbidUnknownValues: true,
  stopAtFirstError: true,
  validationError: { target: false, value: false },
};

const knownProperties = new WeakMap<Type, ReadonlySet<string>>();

/**
 * Checks a parsed JSON value against a DTO class as request bodies are checked (below): the DTO, or the messages
 * (unknown properties first). Also for the items of a body, such as a batch's jobs.
 */
export function validateObject<T extends object>(value: unknown, metatype: Type<T>): { dto: T } | { errors: string[] } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { errors: ['must be a JSON object'] };
  }
  let known = knownProperties.get(metatype);
  if (!known) knownProperties.set(metatype, (known = declaredProperties(metatype)));
  const unknown = Object.keys(value).filter((key) => !known.has(key));
  if (unknown.length > 0) return { errors: unknown.map((key) => `property ${key} should not exist`) };
  const dto = Object.assign(new metatype(), value);
  const errors = validateSync(dto, VALIDATOR_OPTIONS);
  return errors.length > 0 ? { errors: messages(errors) } : { dto };
}

/**
 * class-validator over request bodies, strict: no type coercion ("5" is not an integer), unknown
 * properties refused (so no BullMQ option such as jobId can be smuggled in), and a body that is not a
 * JSON object is a 400 rather than something the validator half-understands. An absent body is `{}`.
 *
 * A JSON body is already plain data, so the DTO instance is made by copying its checked keys rather than
 * through class-transformer (which also drops keys named like Object.prototype methods before
 * forbidNonWhitelisted can see them). Other arguments get Nest's ValidationPipe as usual.
 */
@Injectable()
export class BodyValidationPipe extends ValidationPipe {
  constructor() {
    super({
      ...VALIDATOR_OPTIONS,
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'body' || !metadata.metatype || !this.toValidate(metadata)) {
      return super.transform(value, metadata);
    }
    if (value === undefined) value = {};
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new BadRequestException('Request body must be a JSON object');
    }
    const result = validateObject(value, metadata.metatype as Type<object>);
    if ('errors' in result) throw new BadRequestException(result.errors);
    return result.dto;
  }
}
