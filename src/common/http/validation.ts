import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { plainToInstance, Transform, type ClassConstructor } from 'class-transformer';
import { ValidateIf, validateSync, type ValidationError } from 'class-validator';
import { AppError, type FieldError } from '../errors/app.error';
import { unstorableCharacterErrors } from './unstorable-characters';
import { readPlainQuery } from './plain-query';

/** What a field that is left out but required says, whatever its rules. */
export const REQUIRED_MESSAGE = 'is required';

/**
 * class-validator's default messages that say less than they should, by constraint: `1.5` for an
 * integer is "must be an integer", not "must be an integer number". A DTO's own message stays.
 */
const CLEARER_DEFAULTS: Record<string, (property: string) => [string, string]> = {
  isInt: (property) => [`${property} must be an integer number`, `${property} must be an integer`],
};

/** Type checks, and the bounds that only mean something once a type check has passed. */
const TYPE_CHECKS = new Set(['isInt', 'isNumber']);
const BOUNDS = new Set(['min', 'max']);

/** The messages of one field: "is required" when it was left out, its rules' messages otherwise. */
function fieldMessages(error: ValidationError): string[] {
  const constraints = Object.entries(error.constraints ?? {});
  if (constraints.length === 0) return [];
  // `value` is recorded (validationError.value is not false): undefined means left out, since
  // neither JSON, a query string nor a form can send undefined.
  if ('value' in error && error.value === undefined) return [REQUIRED_MESSAGE];
  // A bound means nothing for a value of the wrong type ('1.5' is not "less than 0").
  const wrongType = constraints.some(([name]) => TYPE_CHECKS.has(name));
  const relevant = wrongType ? constraints.filter(([name]) => !BOUNDS.has(name)) : constraints;
  // Several constraints may share one message (`page must be an integer from 1 to …`).
  const messages = relevant.map(([name, message]) => {
    const [vague, clear] = CLEARER_DEFAULTS[name]?.(error.property) ?? [];
    return message === vague && clear ? clear : message;
  });
  return [...new Set(messages)];
}

/** Flattens class-validator's tree into `{ field: 'a.b.0.c', message }` entries. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = fieldMessages(error).map((message) => ({ field, message }));
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

export function validationError(errors: ValidationError[]): AppError {
  const fieldErrors = flattenValidationErrors(errors);
  const fields = [...new Set(fieldErrors.map((e) => e.field))].join(', ');
  return new AppError('validation_failed', `Invalid value for: ${fields}.`, fieldErrors);
}

/**
 * 400 validation_failed for each field holding a NUL character or a lone surrogate, if any does.
 */
export function assertStorableText(value: unknown, root = ''): void {
  const errors = unstorableCharacterErrors(value, root);
  if (errors.length === 0) return;
  const fields = [...new Set(errors.map((e) => e.field))].join(', ');
  throw new AppError(
    'validation_failed',
    `NUL characters and lone surrogates are not allowed in: ${fields}.`,
    errors,
  );
}

const OPTIONS = { whitelist: true, forbidNonWhitelisted: true } as const;

/**
 * The most properties one object of a body, query or form may have; no DTO has a twentieth of it.
 * class-transformer copies an object to its DTO in time that grows with the square of its
 * properties: a JSON body of 90,000 made-up ones (under 1 MiB, sent to login without a session)
 * held the event loop for seconds, every request of the process waiting. More are refused by their
 * number, before the copy; fewer unknown ones are each named by the whitelist, as before.
 */
export const MAX_OBJECT_FIELDS = 1000;

/**
 * 400 validation_failed, naming it, for the first object in `value` (at `root`; `whole` when that
 * is empty) with more than MAX_OBJECT_FIELDS properties. A walk of the value, as deep as it is
 * (JSON bodies are at most MAX_JSON_DEPTH levels deep by then).
 */
export function assertFewFields(value: unknown, root = '', whole = 'body'): void {
  const crowded = crowdedObject(value, root, whole);
  if (!crowded) return;
  throw new AppError('validation_failed', `Invalid value for: ${crowded.field}.`, [crowded]);
}

function crowdedObject(value: unknown, path: string, whole: string): FieldError | undefined {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return undefined;
  const at = (key: string | number) => (path ? `${path}.${key}` : String(key));
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = crowdedObject(value[i], at(i), whole);
      if (found) return found;
    }
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length > MAX_OBJECT_FIELDS) {
    return {
      field: path || whole,
      message: `has ${keys.length} properties, more than the ${MAX_OBJECT_FIELDS} read`,
    };
  }
  for (const key of keys) {
    const found = crowdedObject((value as Record<string, unknown>)[key], at(key), whole);
    if (found) return found;
  }
  return undefined;
}

/**
 * Names class-transformer skips when it copies an object to a DTO (Object.prototype's own:
 * `constructor`, `toString`, `__proto__`…), so the whitelist never sees them and `?constructor=1`
 * passed where `?foo=1` is refused.
 */
const PROTOTYPE_NAMES = new Set(Object.getOwnPropertyNames(Object.prototype));

/** What the pipe validates no DTO for (as Nest's ValidationPipe skips them). */
const UNTYPED = new Set<unknown>([Object, Array, String, Number, Boolean, Buffer, Date, undefined]);

/**
 * 400 validation_failed, as the whitelist words it, for a top-level property of a DTO's input
 * named like one of Object.prototype's (no DTO declares one).
 */
function assertNoPrototypeNames(value: unknown, type: unknown, root = ''): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
  if (UNTYPED.has(type)) return;
  const names = Object.keys(value).filter((name) => PROTOTYPE_NAMES.has(name));
  if (names.length === 0) return;
  const errors = names.map((name) => ({
    field: root ? `${root}.${name}` : name,
    message: `property ${name} should not exist`,
  }));
  throw new AppError(
    'validation_failed',
    `Invalid value for: ${errors.map((e) => e.field).join(', ')}.`,
    errors,
  );
}

/**
 * `plain` without the keys `__proto__` and `constructor` of the values nested in it, as Nest's
 * ValidationPipe strips them from a JSON body (stripProtoKeys): class-transformer takes a nested
 * value's `constructor` for the class to build, and a field sent as `{"constructor": 1}` threw a
 * TypeError (a 500) where the pipe's routes answer that the field has the wrong type. Copies;
 * the top level's own such keys are refused by assertNoPrototypeNames first.
 */
function withoutNestedProtoKeys(plain: object): object {
  const strip = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
    if (Array.isArray(value)) return value.map(strip);
    const copy: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      if (key !== '__proto__' && key !== 'constructor') copy[key] = strip(inner);
    }
    return copy;
  };
  return Object.fromEntries(Object.entries(plain).map(([key, value]) => [key, strip(value)]));
}

/**
 * 400 validation_failed for a JSON body that is no object (a list, a number, a string, true or
 * false) where a DTO is expected: it would otherwise be read as an object with no property ("name
 * is required"), or with properties named "0", "1"… (a list). `null` is refused as it is parsed.
 */
function assertBodyIsObject(value: unknown, type: unknown): void {
  if (value === undefined || UNTYPED.has(type)) return;
  assertJsonObject(value);
}

/** 400 validation_failed, saying what it is, for a JSON body that is no object. */
export function assertJsonObject(value: unknown): asserts value is object {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return;
  const what = Array.isArray(value)
    ? 'a list'
    : typeof value === 'boolean'
      ? String(value)
      : `a ${typeof value}`;
  throw new AppError('validation_failed', 'Invalid value for: body.', [
    { field: 'body', message: `must be a JSON object, not ${what}` },
  ]);
}

/**
 * The global pipe: unknown properties are rejected, values are transformed to DTO types, and no
 * body or query value may hold a NUL character or a lone surrogate, whatever its DTO says (a
 * route's own rules cannot forget it). Path parameters are left to their parsers (ids, GTINs,
 * storage keys), each of which refuses a NUL with its own code; custom decorators carry the
 * request, not input. A query of plain rules whose values plainly pass them is read directly
 * (plain-query.ts), to the same DTO.
 */
class AppValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' || metadata.type === 'query') {
      const root = metadata.data ?? (typeof value === 'string' ? metadata.type : '');
      assertFewFields(value, root, metadata.type);
      assertStorableText(value, root);
      if (metadata.type === 'body' && metadata.data === undefined) {
        assertBodyIsObject(value, metadata.metatype);
      }
      if (metadata.data === undefined) assertNoPrototypeNames(value, metadata.metatype);
    }
    if (metadata.type === 'query' && metadata.data === undefined) {
      const read = readPlainQuery(metadata.metatype, value);
      if (read) return read;
    }
    return (await super.transform(value, metadata)) as unknown;
  }
}

export function createValidationPipe(): ValidationPipe {
  return new AppValidationPipe({
    ...OPTIONS,
    transform: true,
    // The value is kept (never shown: only messages are) to tell a field left out from others.
    validationError: { target: false, value: true },
    exceptionFactory: validationError,
  });
}

/**
 * The same rules for values that do not arrive as a JSON body (multipart fields), NUL characters
 * and lone surrogates included.
 */
export function validateInput<T extends object>(type: ClassConstructor<T>, plain: object): T {
  assertFewFields(plain);
  assertStorableText(plain);
  assertNoPrototypeNames(plain, type);
  const instance = plainToInstance(type, withoutNestedProtoKeys(plain));
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

/**
 * A text field validated and stored without its surrounding white space, so that one of spaces only
 * is refused as empty (a name checked before the service trimmed it was stored as "").
 */
export const Trimmed = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value));
