// Incoming webhooks of a group (issue 16): list, create (the secret URL
// and a copyable curl line are shown once), revoke.
import { $, el } from './dom.js';
import { call, explain } from './requests.js';

let shown = null; // the room whose webhooks the dialog shows

// The one curl line of the docs, for this URL.
export function curlLine(url) {
  return `curl -X POST -H 'Content-Type: application/json' -d '{"text": "Hello from curl"}' '${url}'`;
}

async function refresh() {
  const list = $('hooks-list');
  try {
    const reply = await call('webhooks', { room: shown.id });
    list.replaceChildren(...reply.webhooks.map((w) => el('li', { class: 'hook', 'data-hook': w.id },
      el('span', { class: 'hook-name', text: w.name }),
      el('button', { type: 'button', class: 'btn ghost small', 'data-revoke': w.id,
        'aria-label': `Revoke webhook ${w.name}`, text: 'Revoke' }))));
    if (!reply.webhooks.length) list.replaceChildren(el('li', { class: 'empty', text: 'No webhooks yet.' }));
  } catch (err) {
    $('err-hooks').textContent = explain(err);
  }
}

export function openWebhooks(r) {
  shown = r;
  $('hooks-form').reset();
  $('hooks-created').hidden = true;
  $('err-hooks').textContent = '';
  $('hooks-list').replaceChildren();
  $('hooks-dialog').showModal();
  $('hooks-name').focus();
  refresh();
}

async function create(e) {
  e.preventDefault();
  const name = $('hooks-name').value.trim();
  $('err-hooks').textContent = '';
  if (!name) { $('err-hooks').textContent = 'Give the webhook a name.'; $('hooks-name').focus(); return; }
  try {
    const reply = await call('webhook_create', { room: shown.id, name });
    const url = /^https?:/.test(reply.url || '') ? reply.url : location.origin + reply.path;
    $('hooks-url').value = url;
    $('hooks-curl').value = curlLine(url);
    $('hooks-created').hidden = false;
    $('hooks-name').value = '';
    $('hooks-url').select();
    refresh();
  } catch (err) {
    $('err-hooks').textContent = explain(err);
  }
}

async function revoke(id) {
  try {
    await call('webhook_revoke', { room: shown.id, webhook: id });
    refresh();
  } catch (err) {
    $('err-hooks').textContent = explain(err);
  }
}

export function bindWebhooks() {
  $('hooks-form').addEventListener('submit', create);
  $('hooks-close').addEventListener('click', () => $('hooks-dialog').close());
  $('hooks-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-revoke]');
    if (b) revoke(b.dataset.revoke);
  });
  $('hooks-copy').addEventListener('click', async () => {
    try { await navigator.clipboard.writeText($('hooks-curl').value); $('hooks-copy').textContent = 'Copied'; } catch (err) { $('hooks-curl').select(); }
  });
}
