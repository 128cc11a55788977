import { threadPoolSize } from './thread-pool';

// Imported by main.ts before anything that could queue work on libuv's pool: the pool starts on
// its first use and reads UV_THREADPOOL_SIZE then, once (see threadPoolSize).
const size = threadPoolSize(process.env);
if (size) process.env.UV_THREADPOOL_SIZE = size;
