// Sending a new API key, and what its failure means: the key made or not, its secret lost or not.
import {
  createApiKey,
  type CreateApiKeyDto,
  type CreateApiKeyErrors,
  type CreatedApiKeyDto,
} from '@sdk';
import { useRef, useState } from 'preact/hooks';
import { CallFailed, doneAnswerLost, messageOf, newIdempotencyKey, retryable, unwrap } from './api';
import type { Role, Scope } from './session';
import { quoted } from './format';

/**
 * A key made whose secret never reached the person: the creation's answer was lost, and its
 * retry under the same Idempotency-Key was told the key's id (`api_key_id`), never its secret;
 * no id when the service lost its own answer (409 idempotent_answer_lost).
 */
export interface LostKey {
  id?: string;
  name: string;
}

/**
 * A creation with no answer (the connection dropped) or a failure on the service's side: the key
 * may have been made all the same, its secret lost with the answer, which the API keeps nowhere.
 * Sent again under the same Idempotency-Key, the request makes no second key: it makes the key if
 * the first did not, or is told the key made (409 api_key_already_created), never its secret.
 */
const mayBeMade = (error: unknown): error is CallFailed =>
  error instanceof CallFailed && (error.status === 0 || error.status >= 500);

/** The first request with the key still being worked on: its answer comes after Retry-After. */
const stillInUse = (error: unknown): boolean =>
  error instanceof CallFailed && error.status === 409 && error.code === 'idempotency_key_in_use';

/** Sends to a key in use: how many times at most, and the pause before each resending. */
const MAX_SENDS = 5;
const RESEND_PAUSE_MS = 1_000;

/**
 * Creates the key under `key`, sent once more after no answer or a 5xx, and again (a few times)
 * while the first request with the key is still being worked on.
 */
export async function sendCreation(body: CreateApiKeyDto, key: string): Promise<CreatedApiKeyDto> {
  let resent = false;
  for (let sent = 1; ; sent++) {
    try {
      return await unwrap(createApiKey({ body, headers: { 'Idempotency-Key': key } }));
    } catch (caught) {
      const again = stillInUse(caught) ? sent < MAX_SENDS : mayBeMade(caught) && !resent;
      if (!again) throw caught;
      resent ||= mayBeMade(caught);
    }
    await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
  }
}

/** What a failed creation means for the person: a key made and its secret lost, or a message. */
export type Failure = { lost: LostKey } | { message: string; unsure: boolean };

export function failureOf(caught: unknown, name: string): Failure {
  if (caught instanceof CallFailed && caught.code === 'api_key_already_created') {
    const made = caught.problem as CreateApiKeyErrors[409] | undefined;
    return { lost: { id: made?.api_key_id, name } };
  }
  if (doneAnswerLost(caught)) return { lost: { name } };
  if (mayBeMade(caught)) {
    const what =
      caught.status === 0
        ? 'No answer came from the service'
        : `The service failed (${caught.status})`;
    return {
      message:
        `${what}, even on a retry: the key ${quoted(name)} may have been created. Press Create key ` +
        'again to find out: with the same fields, it is never made twice.',
      unsure: true,
    };
  }
  if (stillInUse(caught)) {
    return {
      message:
        `The service is still creating ${quoted(name)}. Press Create key again in a moment to see ` +
        'how it ended: with the same fields, it is never made twice.',
      unsure: true,
    };
  }
  if (caught instanceof CallFailed && caught.code === 'idempotency_key_reused') {
    // The key went with other fields before: this request was refused, nothing was made of it.
    return {
      message:
        'Not created: the service took this for a retry of another creation. Press ' +
        'Create key again to send it as a new one.',
      unsure: false,
    };
  }
  return { message: messageOf(caught), unsure: false };
}

/** The fields of a new key as the person fills them in. */
export interface KeyFields {
  name: string;
  role: Role;
  scopes: Scope[];
  /** A date (YYYY-MM-DD), or empty: never. */
  expires: string;
}

/** The creation's body: none ticked is the role's own scopes; a date alone, its first moment UTC. */
function bodyOf({ name, role, scopes, expires }: KeyFields): CreateApiKeyDto {
  return {
    name: name.trim(),
    role,
    ...(scopes.length > 0 ? { scopes } : {}),
    ...(expires ? { expires_at: expires } : {}),
  };
}

/** A new key's fields before the person fills them in: a staff key, its role's scopes, no expiry. */
const EMPTY: KeyFields = { name: '', role: 'staff', scopes: [], expires: '' };

/** What becomes of a creation: the key made, its secret lost, or the service unsure. */
export interface CreationOutcomes {
  onCreated: (key: CreatedApiKeyDto) => void;
  onLost: (key: LostKey) => void;
  onUnsure: () => void;
}

/**
 * A new key's form: its fields, whether it is open, busy or refused, and its submission. Pressed
 * again with the same fields after no answer (or a failure on the service's side), the creation
 * goes with the same Idempotency-Key and makes no second key; other fields, or a key made, and the
 * next creation is new.
 */
export function useApiKeyCreation({ onCreated, onLost, onUnsure }: CreationOutcomes) {
  const [open, setOpen] = useState(false);
  const [fields, setFields] = useState(EMPTY);
  const change = (next: Partial<KeyFields>) => setFields((now) => ({ ...now, ...next }));
  const changeScopes = (of: (ticked: Scope[]) => Scope[]) =>
    setFields((now) => ({ ...now, scopes: of(now.scopes) }));
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  /** The creation the person started, while it may be sent again: its Idempotency-Key and body. */
  const attempt = useRef<{ key: string; body: string } | undefined>(undefined);
  /** A creation on its way: a second press (a double click) before the button is disabled. */
  const sending = useRef(false);

  const done = () => {
    attempt.current = undefined;
    setOpen(false);
    // The role stays as chosen, for the next key.
    change({ name: '', scopes: [], expires: '' });
  };

  const failed = (caught: unknown, body: CreateApiKeyDto) => {
    // A refusal of the fields is the service's answer to them: the next press is a new request.
    if (!retryable(caught)) attempt.current = undefined;
    const failure = failureOf(caught, body.name);
    if ('lost' in failure) {
      done();
      onLost(failure.lost);
    } else {
      setError(failure.message);
      // Read again: the key may be there already.
      if (failure.unsure) onUnsure();
    }
  };

  const submit = async () => {
    if (sending.current) return;
    sending.current = true;
    setBusy(true);
    setError(undefined);
    const body = bodyOf(fields);
    const same = attempt.current?.body === JSON.stringify(body);
    const key = same && attempt.current ? attempt.current.key : newIdempotencyKey();
    attempt.current = { key, body: JSON.stringify(body) };
    try {
      const created = await sendCreation(body, key);
      done();
      onCreated(created);
    } catch (caught) {
      failed(caught, body);
    } finally {
      sending.current = false;
      setBusy(false);
    }
  };

  return { open, setOpen, fields, change, changeScopes, error, busy, submit };
}
