import { brief, escapeHtml, html, jsonScript, Raw } from '../../src/console/html';

test('every interpolated value is escaped unless it is markup the template built', () => {
  const user = `<img src=x onerror="alert('x')">&`;
  expect(html`<td>${user}</td>`.value).toBe(
    '<td>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</td>',
  );
  expect(html`<p>${html`<b>${user}</b>`}</p>`.value).toBe(
    '<p><b>&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</b></p>',
  );
  expect(html`${['<a>', new Raw('<br>')]}`.value).toBe('&lt;a&gt;<br>');
  expect(escapeHtml(null)).toBe('');
  expect(escapeHtml(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
});

test('JSON for a script block cannot close it or start markup', () => {
  const block = jsonScript('c', { label: '</script><script>alert(1)</script>', n: 1 }).value;
  expect(block).not.toContain('</script><script>');
  expect(block.match(/<\/script>/g)).toHaveLength(1); // only the block's own end
  const json = block.slice(block.indexOf('>') + 1, block.lastIndexOf('</script>'));
  expect(JSON.parse(json)).toEqual({ label: '</script><script>alert(1)</script>', n: 1 });
  expect(brief('x'.repeat(100), 10)).toBe(`${'x'.repeat(9)}…`);
});
