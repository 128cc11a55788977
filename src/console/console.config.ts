import { configSliceProvider, type ConfigSlice } from '../config/config-slice';

export const CONSOLE_CONFIG = Symbol('CONSOLE_CONFIG');

/** The console reads only where the API's own image URLs point (transform URLs, /media). */
const CONSOLE_SETTINGS = ['PUBLIC_BASE_URL', 'PORT'] as const;

export type ConsoleConfig = ConfigSlice<(typeof CONSOLE_SETTINGS)[number]>;

export const consoleConfigProvider = configSliceProvider(CONSOLE_CONFIG, CONSOLE_SETTINGS);
