import { ArgumentMetadata, BadRequestException, Injectable, Type, ValidationPipe } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';

/** Properties a DTO class declares through class-validator decorators. */
function declaredProperties(metatype: Type): ReadonlySet<string> {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(metatype, '', true, false);
  return new Set(metadata.map((entry) => entry.propertyName));
}

/**
 * class-validator over request bodies, strict: no type coercion ("5" is not an integer), unknown
 * properties refused (so no BullMQ option such as jobId can be smuggled in), and a body that is not a
 * JSON object is a 400 rather than something the validator half-understands. An absent body is `{}`.
 */
@Injectable()
export class BodyValidationPipe extends ValidationPipe {
  private readonly known = new WeakMap<Type, ReadonlySet<string>>();

  constructor() {
    super({
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
      stopAtFirstError: true,
      transform: true,
      transformOptions: { enableImplicitConversion: false },
      validationError: { target: false, value: false },
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && metadata.metatype && this.toValidate(metadata)) {
      if (value === undefined) value = {};
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        throw new BadRequestException('Request body must be a JSON object');
      }
      this.refuseUnknownKeys(value as object, metadata.metatype);
    }
    return super.transform(value, metadata);
  }

  // class-transformer silently drops keys named like Object.prototype methods ("toString", "valueOf")
  // before forbidNonWhitelisted can see them; check the plain keys first so they get a 400 too.
  private refuseUnknownKeys(body: object, metatype: Type): void {
    let known = this.known.get(metatype);
    if (!known) this.known.set(metatype, (known = declaredProperties(metatype)));
    const unknown = Object.keys(body).filter((key) => !known.has(key));
    if (unknown.length > 0) {
      throw new BadRequestException(unknown.map((key) => `property ${key} should not exist`));
    }
  }
}
