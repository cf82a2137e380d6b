// The repository root (package.json, node_modules), from this file's place: two levels up in the
// sources, three in their compiled copy under dist/ (scripts/build.mjs), which ends in .js.
export const PACKAGE_ROOT = new URL(import.meta.url.endsWith('.js') ? '../../../' : '../../', import.meta.url);
