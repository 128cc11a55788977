/**
 * The organisation of the first administrator, and the CLI's --org by default. Apart from the
 * bootstrap service, so that the CLI's usage is printed without loading the database's code.
 */
export const DEFAULT_ORGANIZATION_SLUG = 'default';
