import { galleryPageJson } from './gallery-page-json';

const responsive = (n: number) => ({
  thumb: {
    width: 160,
    height: 160,
    src: `https://cdn.example.com/transform/sig${n}/w_160,h_160,c_cover,f_jpeg/id${n}`,
    type: 'image/jpeg',
    srcset: { avif: `a${n} 160w`, webp: `w${n} 160w`, fallback: `f${n} 160w` },
  },
});

/** A page as the route answers it: its keys in their order, text a client wrote in its images. */
function page(titles: string[]) {
  return {
    page: 1,
    per_page: 10,
    total: titles.length,
    items: titles.map((title, n) => ({
      id: `id${n}`,
      title,
      renditions: { thumb: { url: `u${n}`, width: 150 } },
      responsive: responsive(n),
      uploaded_by: null,
      created_at: new Date(Date.UTC(2026, 0, n + 1)),
    })),
    version: 7,
    next_cursor: null,
  };
}

describe('galleryPageJson', () => {
  it('writes what JSON.stringify writes, again when the srcsets were written before', () => {
    const titles = ['', 'é "quoted" \\ \u2028', '"responsive":"\\u0000"', 'responsive'];
    const kept = page(titles);
    expect(galleryPageJson(kept)).toBe(JSON.stringify(kept));
    // The same kept srcsets in another page (another image's text).
    const again = { ...page(['changed', 'b', 'c', 'd']), items: kept.items.map((i) => ({ ...i })) };
    again.items[0].title = 'changed';
    expect(galleryPageJson(again)).toBe(JSON.stringify(again));
    expect(galleryPageJson(page([]))).toBe(JSON.stringify(page([])));
  });

  it('writes anything else (an error’s problem) as JSON.stringify does', () => {
    const problem = { type: 'about:blank', status: 400, code: 'page_too_deep', errors: [] };
    expect(galleryPageJson(problem)).toBe(JSON.stringify(problem));
  });
});
