/**
 * The study view and bull-board in a browser: the web server, its JSON and live endpoints, and
 * the guards in front of them. server.ts is loaded only by the commands that serve (express, bull-board).
 */
export type { Dashboard } from './server.js';
export { AUTH_ENV, resolveDashboardSettings } from './settings.js';
export type { DashboardSettings } from './settings.js';
