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
  return { write: (line: string) => void out.write(format(line)) };
}
