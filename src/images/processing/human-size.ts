const UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB'];

/** "2.5 MB" (the token API): 1024-based, one decimal below 10 units, none above. */
export function humanReadableSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = value < 10 ? Math.round(value * 10) / 10 : Math.round(value);
  return `${shown} ${UNITS[unit]}`;
}
