import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/** The parts of a request that decide the answer: its method and its conditional/range headers. */
export interface MediaRequest {
  method?: string;
  headers: IncomingHttpHeaders;
}

/** How /media answers a request for a file, whatever the framework that writes it. */
export type MediaAnswer =
  | {
      kind: 'file';
      /** 200, 206 (one byte range) or 304 (not modified). */
      status: number;
      headers: Record<string, string | number>;
      /** The bytes to send (empty for HEAD); none for 304. */
      body?: Readable;
    }
  | { kind: 'not_found' }
  | { kind: 'precondition_failed' }
  | { kind: 'range_not_satisfiable'; contentRange: string };
