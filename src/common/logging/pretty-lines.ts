import type { DestinationStream } from 'pino';
import { prettyFactory } from 'pino-pretty';

/** What a pino line may carry that the human form shows in its message instead. */
interface LogFields {
  context?: unknown;
  req?: { method?: unknown; url?: unknown };
  res?: { statusCode?: unknown };
  responseTime?: unknown;
}

/** pino-http's message for a response that was sent in full. */
const COMPLETED = 'request completed';

/**
 * The message of a line as a person reads it: `[Context] message`, and for a request's own line
 * `GET /api/v1/products 200 12 ms` (pino-http's message only when it is not "completed").
 */
export function humanMessage(log: Record<string, unknown>, messageKey: string): string {
  const { context, req, res, responseTime } = log as LogFields;
  const message = typeof log[messageKey] === 'string' ? log[messageKey] : '';
  const prefix = typeof context === 'string' ? `[${context}] ` : '';
  if (!req || !res) return prefix + message;
  const outcome = message === COMPLETED ? '' : ` (${message})`;
  return `${prefix}${String(req.method)} ${String(req.url)} ${String(res.statusCode)} ${String(responseTime)} ms${outcome}`;
}

/**
 * A pino destination writing readable lines (`[12:00:00.000] INFO: …`, other fields indented below)
 * to `out`, coloured only when asked. Formatted in-process and written synchronously, so nothing
 * is lost when the process exits right after logging.
 */
export function prettyDestination(
  out: NodeJS.WritableStream,
  colorize: boolean,
): DestinationStream {
  const format = prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    // Shown in the message (see humanMessage), or noise on a terminal.
    ignore: 'pid,hostname,context,req,res,responseTime',
    messageFormat: humanMessage,
  });
  return { write: (line: string) => void out.write(format(shownAsText(line))) };
}

/**
 * Control characters a terminal would act on: C0 but tab and line feed (ESC starts an escape
 * sequence that can clear the screen, retitle the window or rewrite what was shown before; CR and
 * backspace overwrite), DEL, and C1 (U+009B is a CSI by itself on some terminals).
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * A pino line with every control character of its values written out (`\u001b`): the values hold
 * what clients sent (a file name, a URL, a message quoting either), which JSON lines escape and
 * a terminal showing readable lines would otherwise obey. Not JSON: passed on as it is.
 */
function shownAsText(line: string): string | Record<string, unknown> {
  let log: unknown;
  try {
    log = JSON.parse(line);
  } catch {
    return line;
  }
  return typeof log === 'object' && log !== null && !Array.isArray(log)
    ? (visible(log) as Record<string, unknown>)
    : line;
}

function visible(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  if (Array.isArray(value)) return value.map(visible);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, visible(inner)]));
}
