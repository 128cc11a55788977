// The processes the bench starts: spawned with their output in a log file, remembered by PID, and
// stopped by PID (TERM, then KILL) when the run ends, however it ends.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Map();

/** Starts `node <args>` (the Node.js running the bench) with its output appended to `logFile`. */
export function startNode(name, args, { env, cwd, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const proc = { name, pid: child.pid, child, logFile, exited: false, exitCode: null };
  child.on('exit', (code, signal) => {
    proc.exited = true;
    proc.exitCode = code ?? signal;
  });
  running.set(child.pid, proc);
  return proc;
}

/** TERM, then KILL after `graceMs`; resolves once the process has exited. */
export async function stop(proc, graceMs = 5000) {
  if (!proc || !running.has(proc.pid)) return;
  running.delete(proc.pid);
  if (proc.exited) return;
  const exited = new Promise((resolve) => proc.child.once('exit', resolve));
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** Stops every process still running, one PID at a time. */
export async function stopAll() {
  await Promise.all([...running.values()].map((proc) => stop(proc)));
}

/** A port free on loopback right now (the kernel's choice). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200; fails when the process exits first or on timeout. */
export async function waitReady(proc, url, timeoutMs = 60_000) {
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (proc.exited) {
      throw new Error(`${proc.name} exited (${proc.exitCode}) before it was ready:\n${tail(proc)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return performance.now() - started;
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  throw new Error(`${proc.name} was not ready within ${timeoutMs} ms:\n${tail(proc)}`);
}

/** The last lines of a process's log, for error messages. */
export function tail(proc, lines = 20) {
  try {
    return readFileSync(proc.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Resident memory of a process in bytes (VmRSS), or null once it is gone. */
export function rssBytes(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which is in parentheses and may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticksPerSecond = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** Samples a process's RSS every `everyMs` until stopped: its start, peak and end. */
export function sampleRss(pid, everyMs = 20) {
  const start = rssBytes(pid);
  let peak = start ?? 0;
  const timer = setInterval(() => {
    const rss = rssBytes(pid);
    if (rss !== null && rss > peak) peak = rss;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return { start, peak, end: rssBytes(pid) };
    },
  };
}

/** The 1-minute load average now. */
export function loadAverage() {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
