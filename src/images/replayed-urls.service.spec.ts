import { withUrlsReissued } from './replayed-urls.service';

describe(withUrlsReissued.name, () => {
  const signed = (n: number) =>
    `https://bucket.test/k${n}.webp?X-Amz-Date=2026&X-Amz-Signature=${n}`;
  const reissue = async (url: string) =>
    url.startsWith('https://bucket.test/')
      ? url.replace(/X-Amz-Date=\d+/, 'X-Amz-Date=2027')
      : undefined;
  const json = { 'content-type': 'application/json; charset=utf-8', etag: '"7"' };

  it('re-signs every URL of the storage in the body, the rest byte for byte', async () => {
    const body = `{"id":"a","url":"${signed(1)}","renditions":{"thumb":{"url":"${signed(2)}"},"card":{"url":"${signed(1)}"}},"alt_text":"https://bucket.test/ in words","n":1.50}`;

    const replayed = await withUrlsReissued({ status: 201, headers: json, body }, reissue);

    expect(replayed).toEqual({
      status: 201,
      headers: json,
      body: body.replaceAll('X-Amz-Date=2026', 'X-Amz-Date=2027'),
    });
    // A string the storage does not take for its URL stays as it was (here: alt text).
    expect(JSON.parse(replayed.body)).toMatchObject({ alt_text: 'https://bucket.test/ in words' });
  });

  it('leaves an answer alone that names no storage URL, or is not JSON', async () => {
    const plain = { status: 201, headers: json, body: '{"url":"http://media.test/x.webp"}' };
    await expect(withUrlsReissued(plain, reissue)).resolves.toBe(plain);
    const text = { status: 200, headers: { 'content-type': 'text/csv' }, body: signed(1) };
    await expect(withUrlsReissued(text, reissue)).resolves.toBe(text);
    const empty = { status: 204, headers: {}, body: '' };
    await expect(withUrlsReissued(empty, reissue)).resolves.toBe(empty);
  });
});
