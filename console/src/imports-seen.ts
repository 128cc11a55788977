// The bulk imports started from this console in this tab, so that the Jobs view can follow them
// (the API lists an import's rows, not the imports themselves).
const KEY = 'pis-console-imports';

export function importsSeen(): string[] {
  try {
    const stored = JSON.parse(sessionStorage.getItem(KEY) ?? '[]') as unknown;
    return Array.isArray(stored) ? stored.filter((id): id is string => typeof id === 'string') : [];
  } catch {
    return [];
  }
}

export function rememberImport(id: string): void {
  const ids = [id, ...importsSeen().filter((seen) => seen !== id)].slice(0, 20);
  sessionStorage.setItem(KEY, JSON.stringify(ids));
}
