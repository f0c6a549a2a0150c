// Call history messages (issue 19): the one-line text of a message whose
// content type is "call", for the timeline and the conversation list.
// No DOM, no imports: model.js and message.js both use it.

function fmtDur(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, '0') : String(m);
  return `${h ? h + ':' : ''}${mm}:${String(r).padStart(2, '0')}`;
}

// c: the content; mine: the caller is me.
export function callText(c, mine) {
  const kind = c.kind === 'video' ? 'Video call' : 'Voice call';
  const group = c.group ? 'Group ' + kind.toLowerCase() : kind;
  if (c.outcome === 'ended') return `${group} · ${fmtDur(c.duration_ms || 0)}`;
  if (c.outcome === 'declined') return mine ? `${group} · declined` : `${group} · you declined`;
  if (mine) return `${group} · ${c.reason === 'cancelled' ? 'cancelled' : 'no answer'}`;
  return `Missed ${group.toLowerCase()}`;
}
