import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppError } from '../common/errors/app.error';
import { STORAGE_PROVIDER, type StorageProvider } from '../storage/storage-provider';
import { publicBaseUrl } from '../storage/storage.config';
import { CONSOLE_CONFIG, type ConsoleConfig } from './console.config';
import { consoleContentSecurityPolicy, httpOrigin } from './console-csp';
import {
  CONSOLE_PAGE,
  consoleAnswerFor,
  consoleBuildDir,
  isHashedAsset,
  isNavigation,
} from './console-files';

/** A key of the shape images are stored under: its URL shows where storage serves images from. */
const PROBE_KEY = 'products/console/probe/original.jpg';

const ONE_YEAR_MS = 365 * 24 * 60 * 60 * 1000;

/**
 * Answers the console's files (built by Vite into dist/console) with the console's own
 * Content-Security-Policy. Its images come from where the API's image URLs point: the service's
 * public base URL (transform URLs, /media) and the storage's own URLs (an S3 bucket or CDN, a
 * presigned host, Cloudinary's delivery host), found once at start-up by asking the storage for
 * the URL of a key, so that every driver and setting is covered by the code that makes the URLs.
 */
@Injectable()
export class ConsoleSite implements OnModuleInit {
  readonly root = consoleBuildDir();
  private policy = consoleContentSecurityPolicy([]);

  constructor(
    @Inject(CONSOLE_CONFIG) private readonly config: ConsoleConfig,
    @Inject(STORAGE_PROVIDER) private readonly storage: StorageProvider,
  ) {}

  async onModuleInit(): Promise<void> {
    const origins = [publicBaseUrl(this.config), await this.storage.url(PROBE_KEY)]
      .map(httpOrigin)
      .filter((origin): origin is string => origin !== undefined);
    this.policy = consoleContentSecurityPolicy(origins);
  }

  /**
   * Whether the build has `file` (a path {@link consoleAnswerFor} checked), a file not a folder. A
   * name the file system cannot hold (ENAMETOOLONG past 255 bytes) is no file of it either.
   */
  private hasFile(file: string): boolean {
    try {
      return statSync(join(this.root, file), { throwIfNoEntry: false })?.isFile() ?? false;
    } catch {
      return false;
    }
  }

  /** Sends the file for `/console/<path>` (the page for client-side routes) once it is sent. */
  async send(reply: FastifyReply, path: string): Promise<void> {
    let found: boolean | undefined;
    const exists = (name: string) => (found ??= this.hasFile(name));
    const file = consoleAnswerFor(path, exists, isNavigation(reply.request.headers));
    // A name the build lacks is the page to a browser opening it, a missing file to a script: a
    // cache keyed on the URL alone would hand the one it kept to both.
    if (consoleAnswerFor(path, exists, true) !== consoleAnswerFor(path, exists, false)) {
      reply.header('vary', 'Sec-Fetch-Mode, Accept');
    }
    // The answer to any file the console does not have (the application's not-found handler).
    if (file === undefined) {
      reply.callNotFound();
      await reply;
      return;
    }
    if (file === CONSOLE_PAGE && !existsSync(join(this.root, CONSOLE_PAGE))) {
      throw new AppError('route_not_found', 'The console is not built: run npm run build.');
    }
    reply.header('content-security-policy', this.policy);
    // The page names the bundle of its build: it is checked for every time, the bundle never.
    const caching = isHashedAsset(file)
      ? { maxAge: ONE_YEAR_MS, immutable: true }
      : { cacheControl: false };
    if (!isHashedAsset(file)) reply.header('cache-control', 'no-cache');
    // A reply is a promise of its end: the handler returns once the file is sent.
    await reply.sendFile(file, this.root, caching);
  }
}
