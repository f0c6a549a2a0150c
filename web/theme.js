// Runs before first paint (classic script, no inline code under CSP):
// apply a remembered theme choice, otherwise CSS follows prefers-color-scheme.
(function () {
  try {
    var t = JSON.parse(localStorage.getItem('parley.theme') || 'null');
    if (t === 'dark' || t === 'light') document.documentElement.setAttribute('data-theme', t);
  } catch (e) { /* storage unavailable: follow the system */ }
})();
