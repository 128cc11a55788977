import type { ErrorCode } from '../../common/errors/error-codes';
import type { Problem } from '../../common/errors/problem-details';
import type { InventorumImageField } from './inventorum-form';

/** Inventorum's error envelope (its document shows it for a missing image). */
export interface InventorumErrorBody {
  error: {
    /** Field name → messages. */
    fields: Record<string, string[]>;
    description: string;
    key: string;
  };
}

/** What the request was like, for the messages. */
export interface InventorumErrorContext {
  /** The file field of the request's API version. */
  imageField: InventorumImageField;
  /** The image field came as a text value. */
  imageSentAsText: boolean;
}

/**
 * The statuses answered in the envelope: those about the form the route read (invalid fields, a
 * file too large). The others stay problem+json, as everywhere else in the service: 401 and 403
 * are decided before the route (the shared pre-body credential check), so is 415 for most bodies
 * (a Content-Type the service has no parser for), and 5xx are faults of the service.
 */
export const ENVELOPED_STATUSES: readonly number[] = [400, 413];

export const SERIALIZER_ERROR = {
  description: 'Serialization error',
  key: 'common.serializer_error',
} as const;

/** Django REST framework's messages, which Inventorum's envelope carries. */
export const DRF_MESSAGES = {
  required: 'This field is required.',
  notAFile: 'The submitted data was not a file. Check the encoding type on the form.',
  emptyFile: 'The submitted file is empty.',
  invalidImage:
    'Upload a valid image. The file you uploaded was either not an image or a corrupted image.',
} as const;

/** The service's words for a missing and an empty file (see readImageUpload). */
const REQUIRED = 'is required';
const EMPTY = 'is empty';

/** `sent more than once` → `Sent more than once.` */
function sentence(message: string): string {
  const capitalised = message.charAt(0).toUpperCase() + message.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

function imageMessage(
  code: ErrorCode,
  message: string,
  detail: string,
  context: InventorumErrorContext,
): string {
  if (message === REQUIRED) {
    return context.imageSentAsText ? DRF_MESSAGES.notAFile : DRF_MESSAGES.required;
  }
  if (message === EMPTY) return DRF_MESSAGES.emptyFile;
  if (code === 'unsupported_image_type' || code === 'invalid_image') {
    return DRF_MESSAGES.invalidImage;
  }
  // The service's sentence names its own field ("as \"image\""): the version's, here.
  if (code === 'too_many_files') return `Send exactly one file, as "${context.imageField}".`;
  // The problem's own sentence (an unsafe SVG, too many pixels, too large), unless it lists fields.
  return code === 'validation_failed' ? sentence(message) : detail;
}

/** The problem's field errors under Inventorum's field names, in its words. */
export function inventorumFields(
  problem: Problem,
  context: InventorumErrorContext,
): Record<string, string[]> {
  // By name in a Map, then an object of own properties: a field named `constructor` or
  // `__proto__` found Object's own in a plain object (and threw on it: a 500 for a 400).
  const fields = new Map<string, string[]>();
  const { code, detail, errors } = problem.body;
  for (const { field, message } of errors) {
    const isImage = field === 'image';
    const text = isImage
      ? imageMessage(code, message, detail, context)
      : message === REQUIRED
        ? DRF_MESSAGES.required
        : sentence(message);
    const name = isImage ? context.imageField : field;
    const list = fields.get(name) ?? [];
    fields.set(name, list);
    if (!list.includes(text)) list.push(text);
  }
  return Object.fromEntries(fields);
}

/**
 * The envelope for a problem, or undefined where the problem stays problem+json (see
 * ENVELOPED_STATUSES). A 400 about fields is Inventorum's serializer error; any other (a malformed
 * body, a file too large) has the key `common.<the service's code>` and the problem's detail as
 * its description.
 */
export function inventorumError(
  problem: Problem,
  context: InventorumErrorContext,
): InventorumErrorBody | undefined {
  if (!ENVELOPED_STATUSES.includes(problem.status)) return undefined;
  const fields = inventorumFields(problem, context);
  const serializer = problem.status === 400 && Object.keys(fields).length > 0;
  return {
    error: {
      fields,
      description: serializer ? SERIALIZER_ERROR.description : problem.body.detail,
      key: serializer ? SERIALIZER_ERROR.key : `common.${problem.body.code}`,
    },
  };
}
