// DOM building without HTML strings: text goes in as text nodes, so a tenant named
// `<img src=x onerror=alert(1)>` renders as those characters. Never use innerHTML in the console.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
}

export function table(testid, headers, rows) {
  return h(
    'table',
    { 'data-testid': testid },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        headers.map((x) => h('th', {}, x)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.length
        ? rows.map((r) =>
            h(
              'tr',
              {},
              r.map((x) => h('td', {}, x)),
            ),
          )
        : h('tr', {}, h('td', { colspan: headers.length }, 'none')),
    ),
  );
}

export const usd = (n) => `$${Number(n).toFixed(6)}`;
export const int = (n) => Number(n).toLocaleString('en-US');
