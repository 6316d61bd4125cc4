// The sign-in page: says why the last attempt failed and keeps the page the
// user wanted to see. No camera data is reachable from here.
const q = new URLSearchParams(location.search);
const msg = document.getElementById('message');
const reasons = { failed: 'Wrong user name or password.', locked: 'Too many failed attempts: try again in a few minutes.', expired: 'Your session ended; sign in again.' };
if (reasons[q.get('error')]) {
  msg.textContent = reasons[q.get('error')];
  msg.hidden = false;
}
const next = q.get('next');
// Only a path on this server, never another site.
if (next && next.startsWith('/') && !next.startsWith('//')) document.getElementById('next').value = next;
