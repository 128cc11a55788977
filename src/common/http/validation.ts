import { ValidationPipe } from '@nestjs/common';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { ValidateIf, validateSync, type ValidationError } from 'class-validator';
import { AppError, type FieldError } from '../errors/app.error';

/** Flattens class-validator's tree into `{ field: 'a.b.0.c', message }` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

export function validationError(errors: ValidationError[]): AppError {
  const fieldErrors = flattenValidationErrors(errors);
  const fields = [...new Set(fieldErrors.map((e) => e.field))].join(', ');
  return new AppError('validation_failed', `Invalid value for: ${fields}.`, fieldErrors);
}

const OPTIONS = { whitelist: true, forbidNonWhitelisted: true } as const;

/** The global pipe: unknown properties are rejected, values are transformed to DTO types. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    ...OPTIONS,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: validationError,
  });
}

/** The same rules for values that do not arrive as a JSON body (multipart fields). */
export function validateInput<T extends object>(type: ClassConstructor<T>, plain: object): T {
  const instance = plainToInstance(type, plain);
  const errors = validateSync(instance, OPTIONS);
  if (errors.length > 0) throw validationError(errors);
  return instance;
}

/**
 * For JSON bodies: the property may be left out, but `null` is validated like any value (and so
 * refused by the type check). class-validator's IsOptional lets null through to the database.
 */
export const Optional = (): PropertyDecorator =>
  ValidateIf((_object: object, value: unknown) => value !== undefined);
