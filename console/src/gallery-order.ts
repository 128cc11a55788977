// Moving images within a gallery's order, under the service's rule that the primary image stays
// first wherever it is named (so the console never offers a move the service would undo).

export interface Ordered {
  id: string;
  is_primary: boolean;
}

/** The ids with `id` moved to `index` (of the list without it), kept behind a primary image. */
export function moveTo(items: readonly Ordered[], id: string, index: number): string[] {
  const rest = items.filter((item) => item.id !== id).map((item) => item.id);
  const floor = items[0]?.is_primary && items[0].id !== id ? 1 : 0;
  const at = Math.max(floor, Math.min(index, rest.length));
  return [...rest.slice(0, at), id, ...rest.slice(at)];
}

/** The ids with `id` dropped just before (or after) `target`. */
export function dropOn(
  items: readonly Ordered[],
  id: string,
  target: string,
  after: boolean,
): string[] {
  const rest = items.filter((item) => item.id !== id);
  const at = rest.findIndex((item) => item.id === target);
  if (at < 0) return items.map((item) => item.id);
  return moveTo(items, id, at + (after ? 1 : 0));
}

/** Whether `id` can move one place earlier or later. */
export function movable(
  items: readonly Ordered[],
  id: string,
): { earlier: boolean; later: boolean } {
  const index = items.findIndex((item) => item.id === id);
  const item = items[index];
  if (!item || item.is_primary) return { earlier: false, later: false };
  const floor = items[0]?.is_primary ? 1 : 0;
  return { earlier: index > floor, later: index < items.length - 1 };
}

/** `items` in the order of `ids`. */
export function inOrder<T extends Ordered>(items: readonly T[], ids: readonly string[]): T[] {
  const byId = new Map(items.map((item) => [item.id, item]));
  return ids.map((id) => byId.get(id)).filter((item): item is T => item !== undefined);
}
