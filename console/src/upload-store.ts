// The files a person queued for upload, kept in this browser's IndexedDB until the service has
// answered for each: a reload, a crashed tab or a login again finds them, to be sent (or not) by
// the same person. Another person logged in on the browser is never offered them.

import { CONSOLE_UPLOADS_KEPT_HOURS } from '../../src/idempotency/console-uploads';

/** One queued file as kept: whose, for which gallery, with its Idempotency-Key. */
export interface KeptUpload {
  /** The upload's Idempotency-Key: a file sent again is never stored twice. */
  id: string;
  /** The person the console was for (session.ts, personOf). */
  person: string;
  productId: string;
  file: File;
  /** When it was queued (milliseconds since the epoch): the order they are offered in. */
  queuedAt: number;
  /** Whether its bytes went out at least once (the service may have stored it). */
  started: boolean;
  /** The page that queued it (see {@link held}). */
  tab: string;
}

const DB = 'pis-console-uploads';
const STORE = 'uploads';
/**
 * Files kept longer are forgotten: after the service's Idempotency-Key retention (24 h by
 * default) one sent again could be stored a second time. The hours are the service's constant,
 * which its start-up compares with IDEMPOTENCY_KEY_TTL_HOURS (a warning when not above them).
 */
const KEPT_MS = CONSOLE_UPLOADS_KEPT_HOURS * 3600_000;

/** This page: its uploads are not offered to another page of the browser while it is open. */
export const thisTab = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
const lockOf = (tab: string) => `pis-console-uploads-${tab}`;
// Held while the page lives (the browser lets it go when the page goes).
void navigator.locks
  ?.request(lockOf(thisTab), () => new Promise<never>(() => undefined))
  .catch(() => undefined);

// Where the browser has no Web Locks (plain http on a host other than localhost, Safari before
// 15.4), each page says it is open by a time in localStorage, renewed every BEAT_MS and taken out
// as the page goes (pagehide: reloaded, closed); a page whose time is older than GONE_MS crashed.
// A hidden tab's timers may run only once a minute (Chrome, Safari), hence GONE_MS's margin.
const aliveOf = (tab: string) => `pis-console-uploads-alive-${tab}`;
const BEAT_MS = 15_000;
const GONE_MS = 150_000;
/** Runs `work` on localStorage, where the browser lets it (a private window may not). */
function inLocal<T>(work: (storage: Storage) => T): T | undefined {
  try {
    return work(localStorage);
  } catch {
    return undefined;
  }
}
if (!navigator.locks) {
  const beat = () => inLocal((storage) => storage.setItem(aliveOf(thisTab), String(Date.now())));
  beat();
  setInterval(beat, BEAT_MS);
  addEventListener('pageshow', beat);
  addEventListener('pagehide', () => inLocal((storage) => storage.removeItem(aliveOf(thisTab))));
}

const VERSION = 1;
let connection: IDBDatabase | undefined;
let opening: Promise<IDBDatabase | undefined> | undefined;

/**
 * The database, or undefined where the browser has none now (a private window may refuse it): the
 * next call tries again. A newer console's page (another schema version) is let have it: this one
 * closes it, and its opens fail from then on (the database's version is past its own), so it keeps
 * and forgets nothing more; its uploads still go, and what it kept is the newer page's to offer
 * (sent again with the same Idempotency-Key: never stored twice). A reload makes it the newer.
 */
function database(): Promise<IDBDatabase | undefined> {
  if (connection) return Promise.resolve(connection);
  if (opening) return opening;
  let request: IDBOpenDBRequest;
  try {
    request = indexedDB.open(DB, VERSION);
  } catch {
    return Promise.resolve(undefined);
  }
  opening = new Promise((resolve) => {
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'id' });
    };
    request.onsuccess = () => {
      const db = request.result;
      const gone = () => {
        if (connection === db) connection = undefined;
      };
      db.onversionchange = () => {
        db.close();
        gone();
      };
      db.onclose = gone;
      connection = db;
      opening = undefined;
      resolve(db);
    };
    request.onerror = () => {
      opening = undefined;
      resolve(undefined);
    };
    // An older console's page holds it: nothing is kept meanwhile, and the open goes on; once
    // that page lets it go (or goes), this page has it.
    request.onblocked = () => resolve(undefined);
  });
  return opening;
}

/** Runs `work` in a transaction; resolves once it is written (nothing, where it cannot be). */
async function inStore<T>(
  mode: IDBTransactionMode,
  work: (store: IDBObjectStore) => IDBRequest<T> | void,
): Promise<T | undefined> {
  const db = await database();
  if (!db) return undefined;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = tx.onabort = () => resolve(undefined);
    } catch {
      resolve(undefined);
    }
  });
}

/** Keeps a queued file (or its change: started). */
export function keep(upload: KeptUpload): Promise<unknown> {
  return inStore('readwrite', (store) => store.put(upload));
}

/** Forgets a file the service answered for, or that the person gave up. */
export function forget(id: string): Promise<unknown> {
  return inStore('readwrite', (store) => store.delete(id));
}

/**
 * Whether a page of the browser is open now: it holds its lock, or, without Web Locks, said so
 * lately (the times of pages gone are taken out). Always no where the browser cannot say.
 */
async function openTabs(): Promise<(tab: string) => boolean> {
  if (navigator.locks) {
    try {
      const held = new Set((await navigator.locks.query()).held?.map((lock) => lock.name));
      return (tab) => held.has(lockOf(tab));
    } catch {
      return () => false;
    }
  }
  const now = Date.now();
  const alive = new Set<string>();
  inLocal((storage) => {
    for (const key of Object.keys(storage).filter((k) => k.startsWith(aliveOf('')))) {
      if (now - Number(storage.getItem(key)) < GONE_MS) alive.add(key);
      else storage.removeItem(key);
    }
  });
  return (tab) => alive.has(aliveOf(tab));
}

/**
 * The person's files kept for the gallery by a page that is gone (reloaded, closed, crashed),
 * oldest first; those kept too long are forgotten.
 */
export async function keptFor(person: string, productId: string): Promise<KeptUpload[]> {
  const all = (await inStore<KeptUpload[]>('readonly', (store) => store.getAll())) ?? [];
  const isOpen = await openTabs();
  const now = Date.now();
  for (const old of all.filter((u) => now - u.queuedAt > KEPT_MS)) void forget(old.id);
  return all
    .filter((u) => u.person === person && u.productId === productId && now - u.queuedAt <= KEPT_MS)
    .filter((u) => u.tab !== thisTab && !isOpen(u.tab))
    .sort((a, b) => a.queuedAt - b.queuedAt);
}

/** Forgets, in one transaction, every kept file `gone` says so of. */
function forgetWhere(gone: (upload: KeptUpload) => boolean): Promise<unknown> {
  return inStore('readwrite', (store) => {
    const cursor = store.openCursor();
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (!at) return;
      if (gone(at.value as KeptUpload)) at.delete();
      at.continue();
    };
  });
}

/** Forgets every file kept for the person (they logged out). */
export function forgetAllOf(person: string): Promise<unknown> {
  return forgetWhere((upload) => upload.person === person);
}

/**
 * Forgets every file kept for anyone but the person (who just logged in): another person's files
 * are not left on a browser someone else now uses, where its storage could be read.
 */
export function forgetAllBut(person: string): Promise<unknown> {
  return forgetWhere((upload) => upload.person !== person);
}
