import { AppError } from '../../common/errors/app.error';
import { toProblem } from '../../common/errors/problem-details';
import { notAValidChoice } from './dto/inventorum-upload-fields.dto';
import { DRF_MESSAGES, inventorumError, type InventorumErrorContext } from './inventorum-error';

const LATEST: InventorumErrorContext = { imageField: 'image', imageSentAsText: false };
const problem = (error: AppError) => toProblem(error);

describe(inventorumError.name, () => {
  it("is Inventorum's documented envelope for a missing image", () => {
    const missing = new AppError('image_required', 'An image file is required.', [
      { field: 'image', message: 'is required' },
    ]);
    expect(inventorumError(problem(missing), LATEST)).toEqual({
      error: {
        fields: { image: ['This field is required.'] },
        description: 'Serialization error',
        key: 'common.serializer_error',
      },
    });
  });

  it('names the file field as the API version does, and tells a text value from no value', () => {
    const missing = new AppError('image_required', 'An image file is required.', [
      { field: 'image', message: 'is required' },
    ]);
    expect(
      inventorumError(problem(missing), { imageField: 'product_image', imageSentAsText: false })
        ?.error.fields,
    ).toEqual({ product_image: [DRF_MESSAGES.required] });
    expect(
      inventorumError(problem(missing), { imageField: 'image', imageSentAsText: true })?.error
        .fields,
    ).toEqual({ image: [DRF_MESSAGES.notAFile] });
  });

  it('lists every invalid field with its messages', () => {
    const both = new AppError('validation_failed', 'Invalid value for: image, type.', [
      { field: 'image', message: 'is required' },
      { field: 'type', message: notAValidChoice('banner') },
      { field: 'type', message: 'sent more than once' },
    ]);
    expect(inventorumError(problem(both), LATEST)?.error).toEqual({
      fields: {
        image: ['This field is required.'],
        type: ['"banner" is not a valid choice.', 'Sent more than once.'],
      },
      description: 'Serialization error',
      key: 'common.serializer_error',
    });
    const noType = new AppError('validation_failed', 'Invalid value for: type.', [
      { field: 'type', message: notAValidChoice(undefined) },
    ]);
    expect(inventorumError(problem(noType), LATEST)?.error.fields).toEqual({
      type: ['This field is required.'],
    });
  });

  it('lists fields named as built-in properties as any other (never a TypeError)', () => {
    const odd = new AppError('validation_failed', 'Invalid value for: constructor, __proto__.', [
      { field: 'constructor', message: 'is required' },
      { field: '__proto__', message: 'is required' },
      { field: 'toString', message: 'sent more than once' },
    ]);
    const fields = inventorumError(problem(odd), LATEST)?.error.fields;
    expect(JSON.parse(JSON.stringify(fields))).toEqual(
      JSON.parse(
        '{"constructor":["This field is required."],"__proto__":["This field is required."],' +
          '"toString":["Sent more than once."]}',
      ),
    );
  });

  it.each(['unsupported_image_type', 'invalid_image'] as const)(
    "answers %s with Django REST framework's invalid image",
    (code) => {
      const error = new AppError(code, 'x', [{ field: 'image', message: 'unsupported type' }]);
      expect(inventorumError(problem(error), LATEST)?.error.fields).toEqual({
        image: [DRF_MESSAGES.invalidImage],
      });
    },
  );

  it("gives other image problems the service's own sentence, an empty file DRF's", () => {
    const svg = new AppError('unsafe_svg', 'The SVG was refused: it has a script.', [
      { field: 'image', message: 'SVG refused (script)' },
    ]);
    expect(inventorumError(problem(svg), LATEST)?.error.fields).toEqual({
      image: ['The SVG was refused: it has a script.'],
    });
    const empty = new AppError('image_required', 'The image file is empty.', [
      { field: 'image', message: 'is empty' },
    ]);
    expect(inventorumError(problem(empty), LATEST)?.error.fields).toEqual({
      image: [DRF_MESSAGES.emptyFile],
    });
  });

  it('keys 413 and a 400 about no field by their code, with their detail', () => {
    const tooLarge = new AppError(
      'file_too_large',
      'The file is larger than the upload limit.',
      [{ field: 'image', message: 'is larger than the upload limit' }],
      { Connection: 'close' },
    );
    expect(inventorumError(problem(tooLarge), LATEST)).toEqual({
      error: {
        fields: { image: ['The file is larger than the upload limit.'] },
        description: 'The file is larger than the upload limit.',
        key: 'common.file_too_large',
      },
    });
    const malformed = new AppError('invalid_multipart', 'The multipart body could not be read.');
    expect(inventorumError(problem(malformed), LATEST)?.error).toEqual({
      fields: {},
      description: 'The multipart body could not be read.',
      key: 'common.invalid_multipart',
    });
  });

  it('leaves 401, 403, 415 and 5xx to problem+json', () => {
    for (const code of [
      'authentication_required',
      'insufficient_scope',
      'unsupported_media_type',
      'server_busy',
      'storage_unavailable',
    ] as const) {
      expect(inventorumError(problem(new AppError(code, 'x')), LATEST)).toBeUndefined();
    }
    expect(inventorumError(toProblem(new Error('boom')), LATEST)).toBeUndefined();
  });
});

describe(notAValidChoice.name, () => {
  it('echoes the value as Django REST framework does, cut when long', () => {
    expect(notAValidChoice('banner')).toBe('"banner" is not a valid choice.');
    expect(notAValidChoice('x'.repeat(100))).toBe(`"${'x'.repeat(64)}…" is not a valid choice.`);
  });
});
