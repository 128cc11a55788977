import { declareNullableReferences } from './nullable-references';

describe(declareNullableReferences.name, () => {
  it('rewrites a nullable reference as anyOf the reference or null, keeping its other keywords', () => {
    const document = {
      components: {
        schemas: {
          Product: {
            type: 'object',
            properties: {
              primary_image: {
                nullable: true,
                type: 'object',
                description: 'Or null.',
                allOf: [{ $ref: '#/components/schemas/Image' }],
              },
              note: { type: 'string', nullable: true },
              owner: { allOf: [{ $ref: '#/components/schemas/Owner' }] },
              both: {
                nullable: true,
                allOf: [{ $ref: '#/components/schemas/A' }, { $ref: '#/components/schemas/B' }],
              },
              list: {
                type: 'array',
                items: { nullable: true, allOf: [{ $ref: '#/components/schemas/Image' }] },
              },
            },
          },
        },
      },
    };
    declareNullableReferences(document);
    const nullOnly = { type: 'object', nullable: true, enum: [null] };
    expect(document.components.schemas.Product.properties).toEqual({
      primary_image: {
        description: 'Or null.',
        anyOf: [{ $ref: '#/components/schemas/Image' }, nullOnly],
      },
      // Left as they were: not a reference, not nullable, more than one member.
      note: { type: 'string', nullable: true },
      owner: { allOf: [{ $ref: '#/components/schemas/Owner' }] },
      both: {
        nullable: true,
        allOf: [{ $ref: '#/components/schemas/A' }, { $ref: '#/components/schemas/B' }],
      },
      list: { type: 'array', items: { anyOf: [{ $ref: '#/components/schemas/Image' }, nullOnly] } },
    });
  });
});
