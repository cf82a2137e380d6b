// A small offline renderer of /openapi.json: operations grouped by tag, each with its parameters,
// request body and responses. Everything is written with textContent, never innerHTML.
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
};
const json = (v) => el('pre', {}, JSON.stringify(v, null, 2));

function operation(path, method, op) {
  const auth = (op.security ?? []).flatMap((s) => Object.keys(s)).join(', ') || 'no key';
  const body = el('div', { class: 'body' });
  if (op.description) body.append(el('p', {}, op.description));
  if (op.parameters?.length) {
    const table = el('table', {}, el('tr', {}, el('th', {}, 'name'), el('th', {}, 'in'), el('th', {}, 'required'), el('th', {}, 'schema')));
    for (const p of op.parameters)
      table.append(
        el(
          'tr',
          {},
          el('td', {}, p.name),
          el('td', {}, p.in),
          el('td', {}, p.required ? 'yes' : ''),
          el('td', {}, JSON.stringify(p.schema ?? {})),
        ),
      );
    body.append(el('h4', {}, 'Parameters'), table);
  }
  for (const [type, media] of Object.entries(op.requestBody?.content ?? {}))
    body.append(el('h4', {}, `Request body (${type})`), json(media.schema ?? {}));
  for (const [status, r] of Object.entries(op.responses ?? {})) {
    body.append(el('h4', {}, `${status}: ${r.description}`));
    for (const [type, media] of Object.entries(r.content ?? {})) if (media.schema) body.append(el('div', {}, type), json(media.schema));
  }
  return el(
    'details',
    { id: op.operationId },
    el(
      'summary',
      {},
      el('span', { class: `method ${method}` }, method.toUpperCase()),
      el('span', { class: 'path' }, path),
      op.summary ?? '',
      el('span', { class: 'auth' }, auth),
    ),
    body,
  );
}

async function main() {
  const doc = await (await fetch('/openapi.json')).json();
  document.title = `${doc.info.title} ${doc.info.version} API reference`;
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(item)) {
      const tag = op.tags?.[0] ?? 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(path, method, op));
    }
  const main = document.getElementById('ops');
  const toc = document.getElementById('toc');
  main.replaceChildren();
  for (const [tag, ops] of byTag) {
    const id = `tag-${tag.replace(/\W+/g, '-')}`;
    toc.append(el('a', { href: `#${id}` }, tag));
    main.append(el('h2', { id }, tag), ...ops);
  }
}
main().catch((err) => document.getElementById('ops').replaceChildren(el('p', {}, `Could not load /openapi.json: ${err.message}`)));
