/**
 * HTML with every interpolated value escaped by default: event data is user data. `html` returns Raw
 * (already safe); anything else interpolated (strings, numbers, JSON of events) is escaped. Arrays of Raw
 * are joined. Nothing reaches a page any other way.
 */
export class Raw {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: unknown): string {
  const s =
    value === null || value === undefined ? '' : value instanceof Date ? value.toISOString() : String(value);
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(value: unknown): string {
  if (value instanceof Raw) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(value);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '');
  });
  return new Raw(out);
}

/** JSON for a `<script type="application/json">` block: `<`, `>`, `&` and line separators cannot end it. */
export function jsonScript(id: string, data: unknown): Raw {
  const json = JSON.stringify(data)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
  return new Raw(`<script type="application/json" id="${escapeHtml(id)}">${json}</script>`);
}

/** Short JSON of a value, for a table cell (escaped when interpolated). */
export function brief(value: unknown, max = 80): string {
  const s = typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export const NAV: [string, string][] = [
  ['/', 'Fleet'],
  ['/pipelines', 'Pipelines'],
  ['/dead-letters', 'Dead letters'],
  ['/escalations', 'Escalations'],
  ['/conflicts', 'Conflicts'],
  ['/trace', 'Lineage'],
  ['/report', 'Report'],
];

export function layout(title: string, active: string, body: Raw, flash?: string): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Accord console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/console.css"></head>
<body><header><strong>Accord</strong><nav>${NAV.map(
    ([href, label]) =>
      html`<a href="${href}"${new Raw(href === active ? ' class="active"' : '')}>${label}</a>`,
  )}</nav></header>
<main>${flash ? html`<p class="flash" role="status">${flash}</p>` : ''}<h1>${title}</h1>${body}</main>
<script src="/assets/chart.umd.min.js"></script><script src="/assets/console.js"></script>
</body></html>`.value;
}

export function tableOf(headers: string[], rows: Raw[]): Raw {
  return html`<table><thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${
    rows.length ? rows : html`<tr><td colspan="${headers.length}" class="empty">none</td></tr>`
  }</tbody></table>`;
}
