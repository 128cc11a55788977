// fetch() cannot report how much of a request body has been sent; XMLHttpRequest can. This
// adapter is given to the generated client's `fetch` option for uploads: the client still builds
// the request (URL, headers, the multipart body it serialised), and the adapter only sends it.

/** Statuses whose response has no body (a Response with one would throw). */
const NULL_BODY = new Set([101, 204, 205, 304]);

function parseHeaders(raw: string): Headers {
  const headers = new Headers();
  for (const line of raw.trim().split(/[\r\n]+/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

/** A fetch that sends with XMLHttpRequest and reports the body's progress as it goes out. */
export function fetchWithUploadProgress(
  onProgress: (sent: number, total: number) => void,
): typeof fetch {
  return async (input, init) => {
    const request = input instanceof Request ? input : new Request(input, init);
    // The serialised body (a multipart form) with the Content-Type (and boundary) made for it.
    const body = request.body ? await request.blob() : null;
    return new Promise<Response>((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(request.method, request.url);
      xhr.responseType = 'blob';
      request.headers.forEach((value, name) => xhr.setRequestHeader(name, value));
      xhr.upload.addEventListener('progress', (event) => {
        if (event.lengthComputable) onProgress(event.loaded, event.total);
      });
      xhr.addEventListener('load', () => {
        const status = xhr.status;
        resolve(
          new Response(NULL_BODY.has(status) ? null : (xhr.response as Blob), {
            status,
            statusText: xhr.statusText,
            headers: parseHeaders(xhr.getAllResponseHeaders()),
          }),
        );
      });
      xhr.addEventListener('error', () => reject(new TypeError('The upload could not be sent.')));
      xhr.addEventListener('abort', () =>
        reject(new DOMException('Upload cancelled', 'AbortError')),
      );
      request.signal.addEventListener('abort', () => xhr.abort());
      xhr.send(body);
    });
  };
}
