// Types for scripts/ensure-services.mjs (a plain script, so `npm start` needs no build step).
export function findNatsServer(): string | null;
export function embeddedNatsEnv(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export function ensureNatsServer(): string;
export function findPostgresBin(): string | null;
export function ensurePostgres(): void;
