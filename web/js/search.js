// Message search: the dialog, its results, Ctrl+K.
import { $, el, fmtFull, fmtListTime, highlightText, snippet } from './dom.js';
import { bodyText, roomTitle, userName } from './model.js';
import { call, explain } from './requests.js';
import { S } from './state.js';
import { jumpToMessage } from './timeline.js';

// ---------------------------------------------------------------- search

let searchTimer = null;
let searchGen = 0;

export function openSearch(scope = '') {
  const dlg = $('search-dialog');
  $('search-scope').value = scope === 'room' && S.current ? 'room' : '';
  $('search-scope').querySelector('option[value="room"]').disabled = !S.current;
  if (!dlg.open) dlg.showModal();
  $('search-input').focus();
  $('search-input').select();
  if ($('search-input').value.trim()) runSearch();
}

async function runSearch() {
  const q = $('search-input').value.trim();
  const status = $('search-status');
  const list = $('search-results');
  const gen = ++searchGen;
  if (!q) { list.replaceChildren(); status.textContent = ''; return; }
  const args = { query: q.slice(0, 200), limit: 30 };
  if ($('search-scope').value === 'room' && S.current) args.room = S.current;
  status.textContent = 'Searching…';
  try {
    const { results } = await call('search', args);
    if (gen !== searchGen) return;
    const items = (results || []).filter((m) => m && S.rooms.has(m.room)).map((m) => {
      const r = S.rooms.get(m.room);
      const btn = el('button', { type: 'button', class: 'search-result', 'data-room': m.room, 'data-seq': m.seq },
        el('span', { class: 'result-top' },
          el('span', { class: 'result-sender', text: userName(m.sender) }),
          el('span', { class: 'result-room', text: r.kind === 'dm' ? 'Direct message' : `in ${roomTitle(r)}` }),
          el('time', { datetime: new Date(m.ts).toISOString(), title: fmtFull(m.ts), text: fmtListTime(m.ts) })),
        el('span', { class: 'result-snippet' }, highlightText(snippet(bodyText(m), q), q)));
      return el('li', null, btn);
    });
    list.replaceChildren(...items);
    status.textContent = items.length ? `${items.length} result${items.length > 1 ? 's' : ''}` : 'No messages found.';
  } catch (err) {
    if (gen !== searchGen) return;
    list.replaceChildren();
    status.textContent = explain(err, 'Search');
  }
}

export function bindSearch() {
  $('btn-search').addEventListener('click', () => openSearch(''));
  $('search-form').addEventListener('submit', (e) => { e.preventDefault(); clearTimeout(searchTimer); runSearch(); });
  $('search-input').addEventListener('input', () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  $('search-scope').addEventListener('change', runSearch);
  $('search-close').addEventListener('click', () => $('search-dialog').close());
  $('search-results').addEventListener('click', (e) => {
    const b = e.target.closest('.search-result');
    if (!b) return;
    $('search-dialog').close();
    jumpToMessage(b.dataset.room, Number(b.dataset.seq));
  });
  document.addEventListener('keydown', (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k' && S.me && !$('chat-view').hidden) {
      e.preventDefault();
      openSearch(S.current ? 'room' : '');
    }
  });
}
