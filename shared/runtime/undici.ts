// undici, loaded on first use. Its index requires its whole tree (fetch, cache, WebSocket, mocks),
// which then stays in the heap of every process, while only rare paths need it here: remote image
// fetches, guardrail webhooks and Anthropic count_tokens. The worker's upstream calls use node:http
// (services/worker/upstream.ts). A smaller live heap is a smaller old generation at max load.
let loading: Promise<typeof import('undici')> | undefined;

export function loadUndici(): Promise<typeof import('undici')> {
  return (loading ??= import('undici'));
}
