import { OpenApiResponseValidator } from '../support/openapi-validator';

/**
 * openapi.json against what the service does: places where a client generated from, or a gateway
 * validating against, the document was told something the service does not do.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
const validator = OpenApiResponseValidator.fromFile();
const doc = validator.document as any;

describe('openapi.json tells the truth', () => {
  it('types counts as integers (RenditionRebuildDto)', () => {
    const props = doc.components.schemas.RenditionRebuildDto.properties;
    expect([props.total.type, props.done.type, props.failed.type]).toEqual([
      'integer',
      'integer',
      'integer',
    ]);
    expect([props.total.minimum, props.done.minimum, props.failed.minimum]).toEqual([0, 0, 0]);
  });
});
