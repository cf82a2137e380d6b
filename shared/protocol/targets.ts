// Route targets as they cross NATS: the ingress resolves an alias to an ordered list of
// `provider/model` targets and publishes them in the `sy-targets` header; the worker walks them.
export interface RouteTarget {
  provider: string;
  model: string;
}

export function encodeTargets(targets: RouteTarget[]): string {
  return targets.map((t) => `${t.provider}/${t.model}`).join(',');
}

export function decodeTargets(value: string): RouteTarget[] {
  return value
    .split(',')
    .filter(Boolean)
    .map((s) => {
      const slash = s.indexOf('/');
      return { provider: s.slice(0, slash), model: s.slice(slash + 1) };
    });
}
