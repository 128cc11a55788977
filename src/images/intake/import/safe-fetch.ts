import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { once } from 'node:events';
import { type FileHandle, open, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { type Duplex, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { toThirdParty } from '../../../tracing/tracing';
import { addressBlockReason } from './address-policy';

/**
 * A server-side-request-forgery-safe HTTP(S) fetcher for importing an image from a URL a client
 * gave us.
 *
 * - only `http:`/`https:`, no credentials in the URL, only allowed ports;
 * - the host is parsed by WHATWG `URL` (which normalises `2130706433`, `0177.0.0.1`, `0x7f.1`…),
 *   IP literals are checked directly, names are resolved once and every address must be public;
 *   the socket then connects to an address that was checked (a custom `lookup` hands it over, so
 *   there is no second DNS query to rebind), while Host and TLS SNI/certificate stay on the name;
 * - redirects are followed by hand and every hop is checked again in full;
 * - one deadline covers DNS, connecting, redirects and the body; the body is counted while it
 *   streams, whatever Content-Length says;
 * - nothing is left behind on failure: the partial file is removed and the sockets destroyed.
 */

export interface SafeFetchOptions {
  /** Body limit, counted while streaming (Content-Length is not trusted). */
  maxBytes: number;
  /** Total, across redirects, including slow bodies. */
  timeoutMs: number;
  /** The service uses 3. */
  maxRedirects: number;
  /** Default [80, 443] by the caller; other ports are refused. */
  allowedPorts: number[];
  /** Test-only escape hatch: origins (e.g. 'http://127.0.0.1:41234') allowed despite private addresses and ports. */
  allowedPrivateOrigins: string[];
  /** Test-only: allow every private address (still http/https only, still no credentials). */
  allowPrivateNetworks: boolean;
  /** DNS resolution, injectable for tests; default dns.promises.lookup(host, {all:true, verbatim:true}). */
  resolve?: (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;
  userAgent?: string;
}

export interface SafeFetchResult {
  bytes: number;
  finalUrl: string;
  contentType?: string;
}

/**
 * The URL was refused, could not be reached, timed out, was closed early or answered with a
 * non-2xx status. One kind for the client; `reason` is for logs.
 */
export class UrlFetchError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'UrlFetchError';
  }
}

/** The body exceeded `maxBytes` (declared or counted). */
export class UrlFetchTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlFetchTooLargeError';
  }
}

export const DEFAULT_USER_AGENT = 'product-image-service (image import)';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

type Resolver = NonNullable<SafeFetchOptions['resolve']>;

interface CheckedAddress {
  address: string;
  family: 4 | 6;
}

/** A request whose response head has arrived. */
interface Exchange {
  request: http.ClientRequest;
  response: http.IncomingMessage;
  /** The first error the request reported, even after the response head. */
  transportError: () => Error | undefined;
}

/** One hop, after every check passed. */
interface Target {
  url: URL;
  /** Hostname without IPv6 brackets. */
  host: string;
  port: number;
  /** The only addresses the socket may connect to. */
  addresses: CheckedAddress[];
  /** Whether `host` is an IP literal (no lookup, no SNI). */
  literal: boolean;
}

const defaultResolve: Resolver = async (hostname) => {
  const answers = await dns.lookup(hostname, { all: true, verbatim: true });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

function validateOptions(options: SafeFetchOptions): void {
  const { maxBytes, timeoutMs, maxRedirects, allowedPorts } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new TypeError('safeFetch: maxBytes must be a non-negative integer');
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
    throw new TypeError('safeFetch: timeoutMs must be a positive number of milliseconds');
  }
  if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0) {
    throw new TypeError('safeFetch: maxRedirects must be a non-negative integer');
  }
  if (!allowedPorts.every((port) => Number.isInteger(port) && port > 0 && port < 65536)) {
    throw new TypeError('safeFetch: allowedPorts must be TCP ports');
  }
}

function normaliseOrigins(origins: readonly string[]): Set<string> {
  return new Set(
    origins.map((origin) => {
      try {
        return new URL(origin).origin;
      } catch {
        throw new TypeError(`safeFetch: allowedPrivateOrigins has an invalid origin: ${origin}`);
      }
    }),
  );
}

function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function ipFamily(address: string): 4 | 6 | undefined {
  const family = isIP(address);
  return family === 4 || family === 6 ? family : undefined;
}

function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

function timeoutError(timeoutMs: number): UrlFetchError {
  return new UrlFetchError('timeout', `The URL did not answer within ${timeoutMs} ms`);
}

/** `promise`, or a timeout error as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, timeoutMs: number): Promise<T> {
  if (signal.aborted) return Promise.reject(timeoutError(timeoutMs));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(timeoutError(timeoutMs));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: Error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

class Fetcher {
  private readonly privateOrigins: Set<string>;
  private readonly resolve: Resolver;
  private readonly controller = new AbortController();
  /** Every request made, destroyed at the end whatever happened. */
  private readonly requests: http.ClientRequest[] = [];

  constructor(private readonly options: SafeFetchOptions) {
    this.privateOrigins = normaliseOrigins(options.allowedPrivateOrigins);
    this.resolve = options.resolve ?? defaultResolve;
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  async run(url: string, destination: NodeJS.WritableStream | string): Promise<SafeFetchResult> {
    const timer = setTimeout(() => this.controller.abort(), this.options.timeoutMs);
    try {
      return await this.follow(url, destination);
    } catch (error) {
      throw this.classify(error);
    } finally {
      clearTimeout(timer);
      for (const request of this.requests) request.destroy();
    }
  }

  private async follow(
    url: string,
    destination: NodeJS.WritableStream | string,
  ): Promise<SafeFetchResult> {
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      throw new UrlFetchError('invalid-url', 'The URL is not valid');
    }
    for (let redirects = 0; ; redirects++) {
      const target = await this.check(current);
      // Under the deadline whatever the transport does (an abort does nothing to a request
      // Node has already destroyed).
      const exchange = await untilAborted(this.send(target), this.signal, this.options.timeoutMs);
      const { request, response } = exchange;
      const status = response.statusCode ?? 0;

      if (REDIRECT_STATUSES.has(status)) {
        const location = response.headers.location;
        response.destroy();
        request.destroy();
        if (!location) {
          throw new UrlFetchError('redirect-without-location', `The URL answered ${status}`);
        }
        if (redirects >= this.options.maxRedirects) {
          throw new UrlFetchError(
            'too-many-redirects',
            `The URL redirected more than ${this.options.maxRedirects} times`,
          );
        }
        try {
          current = new URL(location, current);
        } catch {
          throw new UrlFetchError('bad-redirect', 'The URL redirected to an invalid location');
        }
        continue;
      }

      if (status < 200 || status > 299) {
        response.destroy();
        request.destroy();
        throw new UrlFetchError(`status-${status}`, `The URL answered ${status}`);
      }
      return this.receive(target, exchange, destination);
    }
  }

  /** Every rule of one hop: scheme, credentials, port, then the addresses to connect to. */
  private async check(url: URL): Promise<Target> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UrlFetchError('scheme', 'Only http and https URLs can be imported');
    }
    if (url.username !== '' || url.password !== '') {
      throw new UrlFetchError('credentials', 'URLs with credentials cannot be imported');
    }
    const exempt = this.privateOrigins.has(url.origin);
    const port = effectivePort(url);
    if (!exempt && !this.options.allowedPorts.includes(port)) {
      throw new UrlFetchError('port', `Port ${port} is not allowed`);
    }
    const checkAddresses = !exempt && !this.options.allowPrivateNetworks;

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const literal = ipFamily(host);
    if (literal !== undefined) {
      if (checkAddresses) this.refuseBlocked(host);
      return { url, host, port, literal: true, addresses: [{ address: host, family: literal }] };
    }

    if (checkAddresses && isLocalhostName(host)) {
      throw new UrlFetchError('blocked-host:localhost', 'The URL points to a non-public host');
    }
    let answers: Awaited<ReturnType<Resolver>>;
    try {
      answers = await untilAborted(this.resolve(host), this.signal, this.options.timeoutMs);
    } catch (error) {
      if (error instanceof UrlFetchError) throw error;
      throw new UrlFetchError('dns', 'The URL host name could not be resolved');
    }
    if (answers.length === 0) {
      throw new UrlFetchError('dns', 'The URL host name could not be resolved');
    }
    const addresses: CheckedAddress[] = [];
    for (const { address } of answers) {
      const family = ipFamily(address);
      if (family === undefined) {
        throw new UrlFetchError('dns', 'The resolver answered a non-address');
      }
      // Every address must pass: the socket may use any of them (Happy Eyeballs).
      if (checkAddresses) this.refuseBlocked(address);
      addresses.push({ address, family });
    }
    return { url, host, port, literal: false, addresses };
  }

  private refuseBlocked(address: string): void {
    const reason = addressBlockReason(address);
    if (reason !== undefined) {
      throw new UrlFetchError(
        `blocked-address:${reason}`,
        'The URL points to a non-public address',
      );
    }
  }

  /** Sends the request to the checked addresses only and waits for the response head. */
  private send(target: Target): Promise<Exchange> {
    const { url, host, port, addresses, literal } = target;
    const lookup = (
      hostname: string,
      options: LookupOptions,
      callback: (
        error: NodeJS.ErrnoException | null,
        address: string | LookupAddress[],
        family?: number,
      ) => void,
    ): void => {
      if (hostname !== host) {
        const error: NodeJS.ErrnoException = new Error(`Unexpected lookup of ${hostname}`);
        error.code = 'ENOTFOUND';
        callback(error, '');
      } else if (options.all) {
        callback(
          null,
          addresses.map(({ address, family }) => ({ address, family })),
        );
      } else {
        callback(null, addresses[0].address, addresses[0].family);
      }
    };
    const requestOptions: https.RequestOptions = {
      protocol: url.protocol,
      host,
      port,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: {
        'User-Agent': this.options.userAgent ?? DEFAULT_USER_AGENT,
        Accept: 'image/*',
        'Accept-Encoding': 'identity',
        Connection: 'close',
      },
      // A fresh connection per request: no pooled socket is shared or left open.
      agent: false,
      lookup,
      signal: this.signal,
      ...(url.protocol === 'https:' && !literal ? { servername: host } : {}),
    };
    // A host we do not control: no trace context goes to it (the request is still a span).
    const request = toThirdParty(() =>
      url.protocol === 'https:' ? https.request(requestOptions) : http.request(requestOptions),
    );
    this.requests.push(request);
    return exchangeOf(request);
  }

  /** Streams a 2xx body to `destination`, counting bytes. */
  private async receive(
    target: Target,
    exchange: Exchange,
    destination: NodeJS.WritableStream | string,
  ): Promise<SafeFetchResult> {
    const { request, response, transportError } = exchange;
    this.checkHead(exchange);
    const counter = byteCounter(this.options.maxBytes);
    const file =
      typeof destination === 'string' ? await openFile(destination, exchange) : undefined;
    const sink = file?.stream ?? (destination as NodeJS.WritableStream);
    // Which side failed first: a failing destination (disk full…) is not the URL's fault. When
    // the response fails, the pipeline destroys the destination with the same error afterwards.
    let firstFailure: 'source' | 'sink' | undefined;
    response.once('error', () => (firstFailure ??= 'source'));
    counter.once('error', () => (firstFailure ??= 'source'));
    sink.once('error', () => (firstFailure ??= 'sink'));

    try {
      await settledOnFailure(pipeline(response, counter, sink, { signal: this.signal }), [
        counter,
        sink,
      ]);
      // The body may be complete while the exchange failed (data past the declared length).
      const failed = transportError();
      if (failed) throw failed;
      if (file && !file.stream.closed) await once(file.stream, 'close');
    } catch (error) {
      response.destroy();
      request.destroy();
      if (file) await discard(file);
      const local =
        firstFailure === 'sink' &&
        !this.signal.aborted &&
        !(error instanceof UrlFetchTooLargeError) &&
        !transportError();
      throw local ? new LocalWriteError(error) : error;
    }
    const contentType = response.headers['content-type'];
    return {
      bytes: counter.bytes,
      finalUrl: target.url.href,
      ...(contentType ? { contentType } : {}),
    };
  }

  /** Refuses a body declared too large, or encoded (it would be counted encoded). */
  private checkHead({ request, response }: Exchange): void {
    const { maxBytes } = this.options;
    const declared = response.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBytes) {
      response.destroy();
      request.destroy();
      throw new UrlFetchTooLargeError(`The image is larger than ${maxBytes} bytes`);
    }
    const encoding = response.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      response.destroy();
      request.destroy();
      throw new UrlFetchError('content-encoding', `The URL answered with ${encoding} encoding`);
    }
  }

  /** Turns whatever went wrong into the two public kinds, except local write failures. */
  private classify(error: unknown): Error {
    if (error instanceof UrlFetchTooLargeError || error instanceof UrlFetchError) return error;
    if (error instanceof LocalWriteError) {
      // Creating or writing the destination (EEXIST, ENOSPC…) is the caller's problem.
      return error.original as Error;
    }
    if (this.signal.aborted) return timeoutError(this.options.timeoutMs);
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
    return new UrlFetchError(networkReason(code), 'The URL could not be fetched');
  }
}

/**
 * The request's response head, or its failure: a transport error, a 101 upgrade, or a close with
 * neither. Its error listener stays for the request's whole life (see below).
 */
function exchangeOf(request: http.ClientRequest): Promise<Exchange> {
  let transportError: Error | undefined;
  return new Promise((resolve, reject) => {
    // Kept for the whole life of the request: an error after the response head (a reset
    // mid-body, bytes after the declared length) must neither crash nor pass silently.
    request.on('error', (error) => {
      transportError ??= error;
      reject(error);
    });
    request.once('response', (response) =>
      resolve({ request, response, transportError: () => transportError }),
    );
    // A 101 with an Upgrade header to a plain GET: Node's client gives the socket to an
    // 'upgrade' listener, and without one destroys it and reports nothing at all (no response,
    // no error): the import hung past its deadline, for ever.
    request.once('upgrade', (_response, socket: Duplex) => {
      socket.destroy();
      reject(new UrlFetchError('status-101', 'The URL answered 101 Switching Protocols'));
    });
    // Closed with neither: said so, whatever the cause (a no-op once settled).
    request.once('close', () =>
      reject(new UrlFetchError('no-response', 'The URL closed the connection without answering')),
    );
    request.end();
  });
}

/** A pass-through that counts the body's bytes and fails past `maxBytes`. */
function byteCounter(maxBytes: number): Transform & { bytes: number } {
  const counter = Object.assign(
    new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        counter.bytes += chunk.length;
        if (counter.bytes > maxBytes) {
          callback(new UrlFetchTooLargeError(`The image is larger than ${maxBytes} bytes`));
        } else {
          callback(null, chunk);
        }
      },
    }),
    { bytes: 0 },
  );
  return counter;
}

interface DestinationFile {
  path: string;
  stream: Writable;
}

/** Exclusive create: a file that already exists is never written over, nor removed. */
async function openFile(path: string, { request, response }: Exchange): Promise<DestinationFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    response.destroy();
    request.destroy();
    throw new LocalWriteError(error);
  }
  return { path, stream: handle.createWriteStream() };
}

/** Closes and removes a partly written file. */
async function discard(file: DestinationFile): Promise<void> {
  file.stream.destroy();
  if (!file.stream.closed) await once(file.stream, 'close').catch(() => undefined);
  await rm(file.path, { force: true });
}

class LocalWriteError extends Error {
  constructor(readonly original: unknown) {
    super('Writing the fetched body failed');
  }
}

function networkReason(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
    case 'ETIMEDOUT':
    case 'EADDRNOTAVAIL':
      return 'connect';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return 'reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'dns';
  }
  if (code.startsWith('HPE_')) return 'protocol';
  if (
    code.startsWith('ERR_TLS_') ||
    code.startsWith('ERR_SSL_') ||
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code.includes('SELF_SIGNED') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'HOSTNAME_MISMATCH'
  ) {
    return 'tls';
  }
  return 'network';
}

/**
 * Fetches `url` into `destination` under every rule above.
 *
 * `destination` is a file path to create (exclusively, and only once a 2xx answer arrived; removed
 * again on any failure, the caller's on success) or a writable stream (ended on success; destroyed
 * if the body fails part-way, untouched if the fetch fails before the body starts).
 *
 * Errors other than the two below are the caller's: invalid options (TypeError) and failures to
 * create or write the destination (e.g. EEXIST, ENOSPC).
 *
 * @throws UrlFetchError refused, unreachable, timed out, closed early or a non-2xx answer
 * @throws UrlFetchTooLargeError the body (declared or counted) exceeds `maxBytes`
 */
export async function safeFetch(
  url: string,
  destination: NodeJS.WritableStream | string,
  options: SafeFetchOptions,
): Promise<SafeFetchResult> {
  validateOptions(options);
  return new Fetcher(options).run(url, destination);
}

/**
 * `piped`, or the first error of one of `streams` as soon as it is raised. From Node.js 22 on, a
 * pipeline whose transform or destination fails destroys the client response while its body is
 * still arriving, then waits for the response to close, which it never does: the fetch hung with
 * its file open until the caller's timeout. The error is what the caller needs; the response is
 * destroyed by the caller's clean-up all the same, and the abandoned pipeline settles (or is
 * collected) on its own.
 */
function settledOnFailure(
  piped: Promise<void>,
  streams: (NodeJS.WritableStream | Transform)[],
): Promise<void> {
  piped.catch(() => undefined);
  const failed = new Promise<never>((_resolve, reject) => {
    for (const stream of streams) stream.once('error', reject);
  });
  failed.catch(() => undefined);
  return Promise.race([piped, failed]);
}
