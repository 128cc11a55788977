/** What the code under test writes to stdout while `work` runs (the generated password goes there). */
export async function printedDuring(work: () => Promise<unknown>): Promise<string> {
  const printed: string[] = [];
  const spy = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => {
      printed.push(chunk.toString());
      return true;
    });
  try {
    await work();
  } finally {
    spy.mockRestore();
  }
  return printed.join('');
}
