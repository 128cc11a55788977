import type { ValueTransformer } from 'typeorm';

/**
 * A bigint column read as a JavaScript number (node-postgres returns bigint as a string). For
 * identity numbers, which stay far below 2^53.
 */
export const BIGINT_AS_NUMBER: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
