/** A schema object of the document, as JSON. */
type Schema = Record<string, unknown>;

/**
 * The null a nullable reference also takes, in OpenAPI 3.0's terms: `nullable` adds null only to
 * the `type` of its own schema, so the enum is what limits this branch to null.
 */
const NULL_ONLY: Schema = { type: 'object', nullable: true, enum: [null] };

/**
 * Makes every nullable reference of the document take null, as OpenAPI 3.0.3 reads it. The
 * Swagger module writes a nullable property of a DTO type as
 * `{ nullable: true, type: 'object', allOf: [{ $ref }] }`; but `nullable` adds null to its own
 * schema's `type` only, and the `allOf` member still demands the referenced object, so strict
 * validators (openapi-core, Schemathesis, Prism, openapi-schema-validator) refuse every `null` the
 * API sends there (a product without images, an import row without a problem). Rewritten as
 * `{ anyOf: [{ $ref }, { type: 'object', nullable: true, enum: [null] }] }`, the form the
 * specification's clarification of `nullable` gives, keeping the property's other keywords
 * (description, example).
 */
export function declareNullableReferences(document: { components?: { schemas?: object } }): void {
  for (const schema of Object.values(document.components?.schemas ?? {})) visit(schema);
}

function visit(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) visit(item);
    return;
  }
  if (!isSchema(node)) return;
  for (const value of Object.values(node)) visit(value);
  const members = node.allOf ?? node.anyOf ?? node.oneOf;
  if (node.nullable !== true || !Array.isArray(members) || members.length !== 1) return;
  const [member] = members as unknown[];
  if (!isSchema(member) || typeof member.$ref !== 'string') return;
  delete node.nullable;
  delete node.type;
  delete node.allOf;
  delete node.oneOf;
  node.anyOf = [member, { ...NULL_ONLY }];
}

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
