// Route targets as they cross NATS: the ingress resolves an alias to an ordered list of
// `provider/model` targets and publishes them in the request envelope; the worker walks them. The
// comma-separated form below is the header of earlier releases, still read from queued messages.
export interface RouteTarget {
  provider: string;
  model: string;
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
