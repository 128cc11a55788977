import { useLayoutEffect, useRef, useState } from 'preact/hooks';

/** A form's fields as text. */
export type Fields = Record<string, string>;

/**
 * What a form holds while open: the values as last read (`base`), the person's (`values`), and
 * the fields both they and someone else changed since the form opened, with the other value.
 */
export interface Draft<T extends Fields> {
  base: T;
  values: T;
  theirs: Partial<T>;
}

export const openDraft = <T extends Fields>(current: T): Draft<T> => ({
  base: current,
  values: current,
  theirs: {},
});

/**
 * The draft once the resource has been read again (`current`): a field the person left alone
 * takes the value read, so that saving never writes an older value over another person's; a
 * field both changed keeps the person's value and records the other one, to be shown.
 */
export function rebase<T extends Fields>(draft: Draft<T>, current: T): Draft<T> {
  const keys = Object.keys(current) as (keyof T)[];
  if (keys.every((key) => current[key] === draft.base[key])) return draft;
  const values = { ...draft.values };
  const theirs = { ...draft.theirs };
  for (const key of keys) {
    if (current[key] === draft.base[key]) continue;
    if (draft.values[key] === draft.base[key]) values[key] = current[key];
    else if (draft.values[key] !== current[key]) theirs[key] = current[key];
    else delete theirs[key];
  }
  return { base: current, values, theirs };
}

/**
 * The draft once the values `sent` were saved, the service answering `saved`: what the service
 * holds is the base now, and a field the person went on typing in while the save was on its way
 * keeps what they typed (saved later), rather than being lost to the answer.
 */
export function settle<T extends Fields>(draft: Draft<T>, sent: T, saved: T): Draft<T> {
  const values = { ...draft.values };
  for (const key of Object.keys(saved) as (keyof T)[]) {
    if (draft.values[key] === sent[key]) values[key] = saved[key];
  }
  return { base: saved, values, theirs: {} };
}

/** Whether the person changed something in the draft that is not saved yet. */
const unsaved = <T extends Fields>(draft: Draft<T> | undefined): boolean =>
  draft !== undefined && Object.keys(changedFields(draft)).length > 0;

/**
 * A form's draft of `current` (undefined while closed; open from the start if `opened`),
 * following re-reads of it as `rebase` says; `open` starts one from the resource as shown,
 * `settle` takes in a save's answer (as `settle` above), and `unsaved` says whether the person
 * changed anything not saved yet.
 */
export function useDraft<T extends Fields>(current: T, opened = false) {
  const [draft, setState] = useState(() => (opened ? openDraft(current) : undefined));
  // The draft as last set, not as last rendered: a save's answer is taken in at once.
  const latest = useRef(draft);
  const setDraft = (next: (now: Draft<T> | undefined) => Draft<T> | undefined) => {
    latest.current = next(latest.current);
    setState(latest.current);
  };
  const key = JSON.stringify(current);
  // Before the page can take a click again: a save never sends the new version (the If-Match
  // of the render that read it) with a draft not yet rebased on it.
  useLayoutEffect(() => setDraft((now) => now && rebase(now, current)), [key]);
  return {
    draft,
    open: () => setDraft(() => openDraft(current)),
    close: () => setDraft(() => undefined),
    set: (name: keyof T, value: string) =>
      setDraft((now) => now && { ...now, values: { ...now.values, [name]: value } }),
    /** Takes in a save's answer; true when something the person changed is not saved yet. */
    settle: (sent: T, saved: T): boolean => {
      setDraft((now) => now && settle(now, sent, saved));
      return unsaved(latest.current);
    },
    unsaved: () => unsaved(latest.current),
  };
}

/** The fields the person changed: what a save sends. */
export function changedFields<T extends Fields>(draft: Draft<T>): Partial<T> {
  const changes: Partial<T> = {};
  for (const key of Object.keys(draft.values) as (keyof T)[]) {
    if (draft.values[key] !== draft.base[key]) changes[key] = draft.values[key];
  }
  return changes;
}
