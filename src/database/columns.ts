import { Column, type ValueTransformer } from 'typeorm';

/**
 * A bigint column read as a JavaScript number (node-postgres returns bigint as a string). For
 * identity numbers, which stay far below 2^53.
 */
export const BIGINT_AS_NUMBER: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

/**
 * A number the database gives each row (a bigint identity), read as a JavaScript number: for the
 * compatible APIs whose ids are integers. Never written by the application.
 */
export function IdentityNumberColumn(): PropertyDecorator {
  return Column({
    type: 'bigint',
    generated: 'identity',
    generatedIdentity: 'BY DEFAULT',
    insert: false,
    update: false,
    transformer: BIGINT_AS_NUMBER,
  });
}
