import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { threadPoolSize } from './thread-pool';

// Imported by main.ts before anything that could queue work on libuv's pool: the pool starts on
// its first use and reads UV_THREADPOOL_SIZE then, once (see threadPoolSize). The settings are
// read as the configuration reads them later: `.env` in the working directory, the real
// environment winning over it (its values, IMAGE_PROCESSING_CONCURRENCY's or UV_THREADPOOL_SIZE's,
// were ignored here: the pool kept libuv's 4 threads, or 4 beside the default concurrency).
const settings = { ...envFile(), ...process.env };
const size = settings.UV_THREADPOOL_SIZE?.trim() || threadPoolSize(settings);
if (size) process.env.UV_THREADPOOL_SIZE = size;

/** `.env`'s variables, or none when there is no such file (or it cannot be read: the start says). */
function envFile(): Record<string, string> {
  try {
    return parseEnv(readFileSync('.env', 'utf8')) as Record<string, string>;
  } catch {
    return {};
  }
}
