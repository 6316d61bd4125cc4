// nvr web UI: cameras, a timeline per camera over the recorded spans,
// playback of any moment through the export endpoint, several cameras in
// sync, and export of a range. Plain JavaScript, no library, no build step.
//
// Everything that came from the API — camera names, ids, errors — is put
// on the page with textContent or as a URL parameter, never as HTML.

const $ = (id) => document.getElementById(id);
const SEC = 1000, MIN = 60 * SEC, HOUR = 60 * MIN, DAY = 24 * HOUR;

// How much footage one export covers (state.window, which the browser tests
// shorten). HANDOVER_S of playing before a window's end, the player loads
// the next one into a second, hidden <video> and swaps it in when the first
// ends, so an hour of continuous footage runs into the next without a pause.
const WINDOW = HOUR;
const HANDOVER_S = 20;
// Multi-camera sync: a follower within SYNC_SEEK_S of the leader is pulled
// in by playing faster or slower in proportion (its drift in about a
// second, no stall); one farther away seeks, a short stall of that camera
// alone. Drift under SYNC_DEADBAND_S is left alone.
const SYNC_DEADBAND_S = 0.03;
const SYNC_SEEK_S = 0.3;
const SYNC_EVERY_MS = 200;
// Zoom bounds of the timeline: a few seconds to 30 days.
const MIN_VIEW = 5 * SEC, MAX_VIEW = 31 * DAY;
// Live changes come from /api/events; everything shown is also refetched
// this often, and at once when the stream says events were missed.
const REFRESH_MS = 60000;

const state = {
  zone: 'UTC',
  cameras: [],            // from /api/cameras
  selected: [],           // camera ids shown, in order
  view: { start: Date.now() - HOUR, end: Date.now() + 5 * MIN },
  playhead: null,         // wall-clock ms of the frame on screen
  playing: false,
  rate: 1,
  lastSeek: null,
  live: false,            // the tiles show the live picture
  liveLatency: [],        // ms from a frame's arrival at nvr to the screen
  events: 0,              // live events received (the browser tests read it)
  previews: 0,            // scrub previews drawn
  signIn: false,          // the server needs users to sign in
  window: WINDOW,         // footage per export
  handovers: 0,           // windows swapped in preloaded (the tests read it)
  audible: null,          // the camera whose tile is heard (setAudible); the rest are muted
  lastFrameAt: null,      // performance.now() of the last frame shown, and the
  maxFrameGap: 0,         // longest wait for a frame since the last seek
  in: null, out: null,    // export range, ms
  fps: 25,
};

// ---------- API ----------

async function api(path, opts) {
  const r = await fetch(path, Object.assign({ headers: { Accept: 'application/json' } }, opts));
  if (r.status === 401 && state.signIn) {
    // The session ended: sign in again and come back to this moment.
    location.assign('/login?error=expired&next=' + enc(location.pathname + location.search));
    throw new Error('signed out');
  }
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}

const iso = (ms) => new Date(ms).toISOString();
const enc = encodeURIComponent;

function setStatus(text) { $('status').textContent = text || ''; }

// ---------- time in the configured zone ----------
// Intl gives the local fields and the UTC offset of any instant in a named
// zone, so the days of a daylight-saving change have 23 or 25 hours and the
// repeated hour shows twice, with its offset.

let partsFmt;
function setZone(zone) {
  state.zone = zone;
  partsFmt = new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'longOffset',
  });
}

function zparts(ms) {
  const p = {};
  for (const { type, value } of partsFmt.formatToParts(new Date(ms))) p[type] = value;
  const m = /GMT([+-])(\d\d):?(\d\d)?/.exec(p.timeZoneName || '');
  const off = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0)) : 0;
  return {
    y: Number(p.year), mo: Number(p.month), d: Number(p.day),
    h: Number(p.hour), mi: Number(p.minute), s: Number(p.second), off,
    offText: m ? m[1] + m[2] + ':' + (m[3] || '00') : '+00:00',
  };
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

function fmtDate(p) { return `${p.y}-${pad(p.mo)}-${pad(p.d)}`; }

// fmtTime: "2026-03-29 02:30:00.040 +01:00" (ms when asked).
function fmtTime(ms, withMs) {
  ms = Math.floor(ms); // a frame's time can have a fraction (the clip's clock)
  const p = zparts(ms);
  let s = `${fmtDate(p)} ${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}`;
  if (withMs) s += '.' + pad(((ms % 1000) + 1000) % 1000, 3);
  return s + ' ' + p.offText;
}

// localToUTC returns the instant of a local wall time in the zone (the
// later one when it is repeated, the moment of the jump when skipped).
function localToUTC(y, mo, d, h = 0, mi = 0) {
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let ms = wall;
  for (let i = 0; i < 3; i++) ms = wall - zparts(ms).off * MIN;
  return ms;
}

function startOfDay(ms) { const p = zparts(ms); return localToUTC(p.y, p.mo, p.d); }
function nextDay(ms) { const p = zparts(ms); return localToUTC(p.y, p.mo, p.d + 1); }

function fmtDuration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + pad(Math.floor((s % 3600) / 60)) + ' min';
}

function fmtBytes(n) {
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

// ---------- spans ----------
// Recorded spans per camera for the view, fetched with a margin and cached
// per request range.

const spans = new Map(); // camera id -> { start, end, list: [[s, e], ...], at }

// fetchSpans returns a camera's recorded spans over [start, end) as
// [[startMs, endMs], …]; res (ms, optional) merges gaps narrower than it.
async function fetchSpans(id, start, end, res) {
  const r = await api(`/api/cameras/${enc(id)}/timeline?start=${iso(start)}&end=${iso(end)}` + (res ? `&resolution=${res}ms` : ''));
  return r.spans.map((s) => [Date.parse(s.start), Date.parse(s.end)]);
}

async function loadSpans(id, force) {
  const v = state.view, w = v.end - v.start;
  const have = spans.get(id);
  if (!force && have && have.start <= v.start && have.end >= v.end) return;
  const start = Math.floor(v.start - w), end = Math.min(Math.ceil(v.end + w), start + 366 * DAY);
  // Gaps narrower than a pixel are merged by the server: 30 days of a
  // camera that reconnects often stay a few hundred spans.
  const res = Math.max(1, Math.floor(w / Math.max(1, canvas.clientWidth)));
  spans.set(id, { start, end, at: Date.now(), list: await fetchSpans(id, start, end, res) });
}

// addSpan merges [s, e) into a camera's cached spans (a segment recorded).
function addSpan(id, s, e) {
  const have = spans.get(id);
  if (!have) return;
  const list = have.list.concat([[s, e]]).sort((a, b) => a[0] - b[0]);
  const out = [];
  for (const x of list) {
    const last = out[out.length - 1];
    if (last && x[0] <= last[1]) last[1] = Math.max(last[1], x[1]); else out.push([x[0], x[1]]);
  }
  have.list = out;
}

// cutSpan removes [s, e) from a camera's cached spans (a segment deleted).
function cutSpan(id, s, e) {
  const have = spans.get(id);
  if (!have) return;
  const out = [];
  for (const [a, b] of have.list) {
    if (b <= s || a >= e) { out.push([a, b]); continue; }
    if (a < s) out.push([a, s]);
    if (b > e) out.push([e, b]);
  }
  have.list = out;
}

// ---------- live events ----------
// The timeline grows while a camera records, a segment retention deleted
// disappears, states change, all without a reload. EventSource reconnects
// by itself; after a reconnect or missed events everything is refetched.

function followEvents() {
  if (!window.EventSource) return;
  const es = new EventSource('/api/events');
  let opened = false;
  es.onopen = () => { if (opened) refreshAll(); opened = true; };
  es.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    state.events++;
    switch (ev.type) {
      case 'state': {
        const c = camera(ev.camera);
        if (c) { c.state = ev.state; c.last_error = ev.last_error || ''; renderCameras(); }
        break;
      }
      case 'segment': {
        // A recorded sub stream's segment: the timeline shows the main
        // stream's footage.
        if (ev.segment.stream === 'sub') break;
        const s = Date.parse(ev.segment.start);
        const e = ev.segment.end ? Date.parse(ev.segment.end) : s;
        if (e > s) addSpan(ev.camera, s, e);
        const c = camera(ev.camera);
        if (c && ev.segment.end && (!c.last || Date.parse(c.last) < e)) c.last = ev.segment.end;
        drawTimeline();
        break;
      }
      case 'segment_deleted':
        if (ev.segment.stream === 'sub') break;
        cutSpan(ev.camera, Date.parse(ev.segment.start), Date.parse(ev.segment.end || ev.segment.start));
        drawTimeline();
        break;
      case 'missed':
        refreshAll();
        break;
    }
  };
}

async function refreshAll() {
  try { await loadCameras(); } catch (e) { setStatus(e.message); }
  refreshView(true);
}

// ---------- cameras ----------

async function loadCameras() {
  state.cameras = await api('/api/cameras');
  renderCameras();
  for (const p of players.values()) p.applySound();
}

function camera(id) { return state.cameras.find((c) => c.id === id); }

function renderCameras() {
  if (state.firstRender == null) state.firstRender = performance.now();
  const ul = $('camera-list');
  const keep = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  ul.textContent = '';
  for (const c of state.cameras) {
    const li = keep.get(c.id) || document.createElement('li');
    li.className = 'cam' + (state.selected.includes(c.id) ? ' selected' : '');
    li.dataset.id = c.id;
    li.textContent = '';
    const name = document.createElement('div');
    name.className = 'name';
    name.textContent = c.name || c.id;
    const st = document.createElement('div');
    st.className = 'state ' + c.state;
    let stText = c.state;
    if (c.state === 'idle' && c.next_window) stText += ' · next window ' + fmtTime(Date.parse(c.next_window));
    st.textContent = stText;
    li.append(name, st);
    if (c.last_error && c.state === 'retrying') {
      const e = document.createElement('div');
      e.className = 'err';
      e.textContent = c.last_error;
      li.append(e);
    }
    const range = document.createElement('div');
    range.className = 'muted';
    range.textContent = c.first ? fmtTime(Date.parse(c.first)) + ' → ' + fmtTime(Date.parse(c.last)) : 'no footage yet';
    const strip = document.createElement('canvas');
    strip.width = 256; strip.height = 10;
    strip.setAttribute('aria-label', "Today's footage");
    li.append(range, strip);
    li.onclick = (ev) => selectCamera(c.id, ev.ctrlKey || ev.metaKey || ev.shiftKey);
    ul.append(li);
    drawStrip(c.id, strip);
  }
}

async function drawStrip(id, canvas) {
  const day0 = startOfDay(Date.now()), day1 = nextDay(day0);
  let list = [];
  try {
    list = await fetchSpans(id, day0, day1, MIN);
  } catch (_) { /* the list shows the camera's error */ }
  const g = canvas.getContext('2d');
  g.fillStyle = '#2b323c';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#3fb950';
  const k = canvas.width / (day1 - day0);
  for (const [s, e] of list) g.fillRect((s - day0) * k, 0, Math.max(1, (e - s) * k), canvas.height);
}

function selectCamera(id, add) {
  if (add) {
    state.selected = state.selected.includes(id) ? state.selected.filter((x) => x !== id) : [...state.selected, id];
  } else {
    state.selected = [id];
  }
  renderCameras();
  syncPlayers();
  if (state.playhead != null) seek(state.playhead);
  refreshView(true);
}

// ---------- players ----------
// One <video> per selected camera, playing an export of up to state.window from
// the moment asked. pieces maps the export's media time to wall time: the
// export closes gaps up, so media time runs on where wall time jumps.

class Player {
  constructor(cam) {
    this.id = cam.id;
    this.tile = document.createElement('div');
    this.tile.className = 'tile';
    this.label = document.createElement('div');
    this.label.className = 'label';
    this.label.textContent = cam.name || cam.id;
    this.overlay = document.createElement('div');
    this.overlay.className = 'overlay';
    this.overlay.hidden = true;
    // The sound control (see setAudible) and what the tile says about its
    // sound ("sound not playable in this browser"); shown only for a
    // stream with sound.
    this.sound = document.createElement('button');
    this.sound.type = 'button';
    this.sound.className = 'sound';
    this.sound.hidden = true;
    this.sound.setAttribute('aria-label', 'Sound: ' + (cam.name || cam.id));
    this.sound.onclick = () => setAudible(this.id);
    // Enter and Space work the button here, not through the browser's
    // activation (Firefox did not click for synthesized keys) and not as
    // the page's Space for play/pause.
    this.sound.onkeydown = (e) => {
      if (e.key !== ' ' && e.key !== 'Enter') return;
      e.preventDefault();
      e.stopPropagation();
      setAudible(this.id);
    };
    this.note = document.createElement('div');
    this.note.className = 'note';
    this.note.hidden = true;
    this.tile.append(this.label, this.overlay, this.note, this.sound);
    this.pieces = [];
    this.frameWall = null; // wall time of the frame on screen
    this.loading = null;
    this.windowEnd = 0;
    this.windowFull = false; // the window was cut at state.window: more may follow
    this.next = null;        // the next window, preloaded (see HANDOVER_S)
    this.seekLag = 0;        // seconds a seek takes while playing (see attach)
    this.attach(Player.newVideo());
  }

  static newVideo() {
    const v = document.createElement('video');
    v.muted = true;
    v.playsInline = true;
    v.preload = 'auto';
    return v;
  }

  // attach makes v the player's shown <video>, in place of the one before.
  attach(v) {
    const old = this.video;
    this.video = v;
    if (old) {
      old.replaceWith(v);
      old.removeAttribute('src');
      old.load();
    } else {
      this.tile.prepend(v);
    }
    v.classList.remove('standby');
    this.applySound();
    // Chromium tells a file's sound only once it decodes some.
    v.addEventListener('timeupdate', () => { if (v === this.video && this.sound.hidden && this.hasSound()) this.applySound(); });
    v.addEventListener('ended', () => { if (v === this.video) this.onEnded(); });
    // While a playing video seeks, the others play on: a follower moved
    // into step lands that far behind, so the sync aims it ahead by what
    // its seeks took (a few ms in Chromium, hundreds in WebKit's GStreamer
    // player on a busy machine).
    let seekFrom = 0;
    v.addEventListener('seeking', () => { seekFrom = performance.now(); });
    v.addEventListener('seeked', () => {
      if (v !== this.video || !seekFrom || v.paused) return;
      this.seekLag = 0.6 * this.seekLag + 0.4 * Math.min(0.5, (performance.now() - seekFrom) / 1000);
    });
    v.addEventListener('error', () => {
      if (v !== this.video) return;
      // MEDIA_ERR_SRC_NOT_SUPPORTED: a format the browser lacks (H.265 in
      // most Chromium builds), not damaged footage.
      this.showOverlay(v.error && v.error.code === 4 ? 'this browser cannot play this footage\'s video format' : 'cannot play this footage');
    });
    this.watchFrames();
  }

  watchFrames() {
    const v = this.video;
    if (!v.requestVideoFrameCallback) return;
    const cb = (_now, meta) => {
      if (v !== this.video) return; // replaced by the next window
      if (this.mode === 'live') {
        this.liveFrame(meta.mediaTime);
        v.requestVideoFrameCallback(cb);
        return;
      }
      // A frame presented while a seek is under way is the one from before
      // it (a new window's first picture): only what the seek shows counts.
      const w = v.seeking ? null : this.wallAt(meta.mediaTime);
      if (w != null) {
        this.frameWall = w;
        // Paused, Firefox gives the position (a moment within the frame,
        // such as a seek's target), not the frame's start: step() must
        // know which it has.
        // (Its times are rounded to microseconds.)
        this.frameWithin = v.paused && Math.abs(meta.mediaTime - v.currentTime) < 1e-5;
      }
      if (this === leader()) onFrame(w);
      // A window that ended where the recording did when it was planned is
      // continued too while the camera records (what came since is there
      // by now), tried at most every 2 s.
      if (w != null && !this.next && state.playing &&
          (this.windowFull || (camera(this.id)?.state === 'recording' && !(performance.now() - this.preloadAt < 2000))) &&
          this.windowEnd - w < HANDOVER_S * SEC * Math.max(1, state.rate)) {
        this.preloadAt = performance.now();
        this.preloadNext();
      }
      v.requestVideoFrameCallback(cb);
    };
    v.requestVideoFrameCallback(cb);
  }

  showOverlay(text) { this.overlay.textContent = text; this.overlay.hidden = !text; }

  showNote(text) { this.note.textContent = text; this.note.hidden = !text; }

  // hasSound reports whether what the tile plays has sound: live, the
  // stream's init segment has an audio track; in playback, the camera
  // records sound or the loaded file has some (Firefox says so at once,
  // Chromium once it has decoded some).
  hasSound() {
    if (this.mode === 'live') return !!this.liveAudio;
    const v = this.video;
    return !!camera(this.id)?.audio || v.mozHasAudio === true || v.webkitAudioDecodedByteCount > 0 ||
      !!(v.audioTracks && v.audioTracks.length);
  }

  // applySound mutes the tile unless it is the audible one, and shows its
  // control when it has sound. The choice lives in state.audible, not in
  // the <video>, so a new window's element and a reconnected live stream
  // keep it.
  applySound() {
    const has = this.hasSound(), on = has && state.audible === this.id;
    this.video.muted = !on;
    this.sound.hidden = !has;
    this.sound.setAttribute('aria-pressed', String(on));
    this.sound.textContent = on ? '\u{1F50A}' : '\u{1F507}';
    this.sound.title = on ? 'Sound on: click to mute' : 'Muted: click for sound';
  }

  get exportStart() { return this.pieces.length ? this.pieces[0].wall : null; }

  // covers reports whether wall lies in the loaded window (in footage or a
  // gap between its pieces).
  covers(wall) {
    return this.pieces.length > 0 && wall >= this.pieces[0].wall && wall < this.windowEnd;
  }

  // wallNow is the wall time at the video's current position.
  wallNow() { return this.pieces.length ? this.wallAt(this.video.currentTime) : null; }

  wallAt(t) {
    for (const p of this.pieces) if (t >= p.media && t < p.media + p.dur) return p.wall + (t - p.media) * 1000;
    const last = this.pieces[this.pieces.length - 1];
    return last && t >= last.media ? last.wall + (t - last.media) * 1000 : null;
  }

  // mediaAt returns the export time of wall, or the start of the next
  // piece (and gap=true) when wall is in a gap.
  mediaAt(wall) { return mediaIn(this.pieces, wall); }

  // windowAt plans the export window that starts at wall: its pieces
  // (media time to wall time), where it ends, and its URL; null when there
  // is no footage in it.
  async windowAt(wall) {
    const size = state.window;
    // exact: the media map needs every gap
    const r = await api(`/api/cameras/${enc(this.id)}/timeline?start=${iso(wall)}&end=${iso(wall + size)}&keyframe=1`);
    const list = r.spans.map((s) => [parseMs(s.start), parseMs(s.end)]);
    // The window begins at the keyframe that shows wall, so the clip has
    // no frames before its start for an edit list to hide: Firefox ignores
    // an edit list's start for video (it shows those frames, and its seeks
    // land a frame early). The clip is asked for from the keyframe's exact
    // time, which milliseconds would miss.
    const key = r.keyframe ? parseMs(r.keyframe) : null;
    const pieces = [];
    let media = 0, keyUsed = false;
    for (const [s, e] of list) {
      let a = Math.max(s, wall);
      const b = Math.min(e, wall + size);
      if (b <= a) continue;
      if (!pieces.length && key != null && key <= a && s <= wall) { a = key; keyUsed = true; }
      pieces.push({ wall: a, media, dur: (b - a) / 1000 });
      media += (b - a) / 1000;
    }
    if (!pieces.length) return null;
    const last = pieces[pieces.length - 1];
    const end = last.wall + last.dur * 1000;
    return {
      from: wall, pieces, end, full: end >= wall + size,
      src: `/api/cameras/${enc(this.id)}/export?start=${keyUsed ? encodeURIComponent(r.keyframe) : iso(pieces[0].wall)}&end=${iso(end)}`,
    };
  }

  // use makes w the loaded window.
  use(w) {
    this.pieces = w.pieces;
    this.windowEnd = w.end;
    this.windowFull = w.full;
  }

  dropNext() {
    if (!this.next) return;
    if (this.next.video) { this.next.video.removeAttribute('src'); this.next.video.load(); }
    this.next = null;
  }

  async load(wall) {
    const token = {};
    this.loading = token;
    this.dropNext();
    const w = await this.windowAt(wall);
    if (this.loading !== token) return false;
    if (!w) {
      this.pieces = [];
      this.windowEnd = wall + state.window;
      this.windowFull = false;
      this.video.removeAttribute('src');
      this.video.load();
      this.showOverlay('no footage at this time');
      return false;
    }
    this.use(w);
    this.showOverlay(w.pieces[0].wall > wall ? 'gap: footage resumes ' + fmtTime(w.pieces[0].wall) : '');
    await loaded(this.video, w.src);
    // An error (its 'error' listener says which) leaves nothing to seek in.
    return this.loading === token && !this.video.error;
  }

  // preloadNext loads the window after this one into a hidden <video>,
  // for onEnded to swap in.
  async preloadNext() {
    const from = this.windowEnd, token = this.loading;
    const next = { from, ready: false };
    this.next = next;
    const w = await this.windowAt(from).catch(() => null);
    if (this.next !== next || this.loading !== token) return;
    // A gap or nothing yet: onEnded loads it.
    const m = w && mediaIn(w.pieces, from);
    if (!m || m.gap) { this.next = null; return; }
    // Rendered but transparent, under the shown one: the browser buffers
    // it and decodes its first frame, which display:none would not.
    const v = Player.newVideo();
    v.classList.add('standby');
    this.video.before(v);
    next.video = v;
    await loaded(v, w.src);
    if (this.next !== next) return;
    if (v.error) { this.dropNext(); return; }
    // The window begins at a keyframe before from: wait there.
    if (m.t > 0) await seekVideo(v, m.t);
    if (this.next !== next) return;
    next.window = w;
    next.ready = true;
  }

  async seek(wall) {
    this.busy = true;
    try {
      await this.seekNow(wall);
    } finally {
      this.busy = false;
    }
  }

  // showFrame seeks the paused video to media time t and learns which
  // frame is on screen: from requestVideoFrameCallback, or, when none is
  // reported, as the moment t within it. (WebKit under load presents the
  // sought frame before 'seeked', when watchFrames does not count it, and
  // paused no other frame follows.)
  async showFrame(t) {
    const v = this.video;
    this.frameWall = null;
    await seekVideo(v, t);
    if (this.frameWall == null && v.requestVideoFrameCallback) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 300);
        v.requestVideoFrameCallback(() => { clearTimeout(timer); resolve(); });
      });
    }
    if (v === this.video && this.frameWall == null && v.paused && !v.seeking) {
      this.frameWall = this.wallAt(v.currentTime);
      this.frameWithin = true;
    }
  }

  // midFrame is the middle of the frame at media time t, counted in frames
  // of the footage's rate from the last frame start reported (a seek there
  // cannot round to a neighbour), or just after t without one.
  midFrame(t) {
    const known = this.frameWall != null && !this.frameWithin ? this.mediaAt(this.frameWall) : null;
    if (!known || known.gap) return t + 1e-4;
    const n = Math.floor((t - known.t) * state.fps + 1e-6);
    return known.t + (n + 0.5) / state.fps;
  }

  async seekNow(wall) {
    if (this.mode === 'live') this.stopLive();
    if (!this.covers(wall)) {
      if (!(await this.load(wall))) return;
    }
    const m = this.mediaAt(wall);
    if (!m) { this.showOverlay('no footage at this time'); return; }
    if (m.gap) this.showOverlay('gap until ' + fmtTime(m.next)); else this.showOverlay('');
    // Seek paused and play once the frame is on screen: the first frame
    // shown is the one asked for, not one a busy machine played past.
    this.video.pause();
    await this.showFrame(m.t);
    if (this === leader() && state.lastSeek && state.lastSeek.frame == null) {
      if (this.frameWall != null) {
        state.lastSeek.frame = this.frameWall;
        state.lastSeek.frameAt = performance.now();
      } else {
        state.lastSeek.armed = true; // take the next frame shown
      }
    }
    this.video.playbackRate = state.rate;
    if (state.playing) await this.video.play().catch(() => {});
  }

  async onEnded() {
    // The window is used up: go on from where it ended (the next footage
    // after a gap, or what has been recorded since).
    if (!state.playing || !this.pieces.length) return;
    const from = this.windowEnd;
    const next = this.next;
    if (next && next.ready && next.from === from) {
      this.next = null;
      this.use(next.window);
      this.attach(next.video);
      this.video.playbackRate = state.rate;
      state.handovers++;
      await this.video.play().catch(() => {});
      return;
    }
    if (await this.load(from)) {
      this.video.playbackRate = state.rate;
      await this.video.play().catch(() => {});
    } else if (camera(this.id)?.state === 'recording') {
      this.showOverlay('waiting for footage…');
      setTimeout(() => this.onEnded(), 1000);
    }
  }
}

// setAudible makes camera id's tile the audible one, or mutes it when it
// already is. At most one tile is heard at a time, as on an NVR's wall;
// every tile starts muted (browsers refuse sound the user did not ask for).
function setAudible(id) {
  state.audible = state.audible === id ? null : id;
  for (const p of players.values()) p.applySound();
}

// codecName names an RFC 6381 codec string's codec for people.
function codecName(c) {
  if (/^(hvc1|hev1)\b/.test(c)) return 'H.265';
  if (/^(avc1|avc3)\b/.test(c)) return 'H.264';
  return c;
}

// loaded sets v's source and waits for its metadata (or an error).
// mediaIn returns the clip time of wall in a window's pieces, or the start
// of the next piece (and gap=true) when wall is in a gap.
function mediaIn(pieces, wall) {
  for (const p of pieces) {
    if (wall < p.wall) return { t: p.media, gap: true, next: p.wall };
    if (wall < p.wall + p.dur * 1000) return { t: p.media + (wall - p.wall) / 1000, gap: false };
  }
  return null;
}

// parseMs parses an RFC 3339 time to milliseconds with the fraction the
// index gives (Date.parse cuts it to whole milliseconds): a window's media
// map then puts each frame at its own time, not up to a millisecond early.
function parseMs(s) {
  const m = /\.\d{3}(\d+)/.exec(s);
  return Date.parse(s) + (m ? Number('0.' + m[1]) : 0);
}

// seekVideo moves v to clip time t and waits (at most 5 s) until it is there.
function seekVideo(v, t) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); v.removeEventListener('seeked', done); resolve(); };
    const timer = setTimeout(done, 5000);
    v.addEventListener('seeked', done);
    v.currentTime = t;
  });
}

function loaded(v, src) {
  return new Promise((resolve) => {
    const done = () => { v.removeEventListener('loadedmetadata', done); v.removeEventListener('error', done); resolve(); };
    v.addEventListener('loadedmetadata', done);
    v.addEventListener('error', done);
    v.src = src;
  });
}

// ---------- live view ----------
// A live tile reads /api/cameras/{id}/live, a WebSocket of fragmented MP4
// (see api/live.go), into Media Source Extensions, keeps close to the live
// edge and reconnects by itself.

// LIVE_EDGE_S: more buffered than this ahead of the picture and it jumps
// to the edge; LIVE_KEEP_S of played picture stays buffered.
const LIVE_EDGE_S = 0.8, LIVE_KEEP_S = 20, LIVE_MAX_PENDING = 120;
// LIVE_STALL_MS without a frame and the tile says it is waiting.
const LIVE_STALL_MS = 3000;

// liveStream is the stream a live tile of camera id plays: in a grid the
// camera's sub stream when it has one (smaller, cheaper to decode), in the
// single view its main stream.
function liveStream(id) {
  const cam = camera(id);
  return state.selected.length > 1 && cam && cam.sub_stream ? 'sub' : 'main';
}

Object.assign(Player.prototype, {
  startLive() {
    this.stopLive();
    this.dropNext();
    this.mode = 'live';
    this.pieces = [];
    this.liveGen = (this.liveGen || 0) + 1;
    const gen = this.liveGen;
    this.arrivals = [];
    this.pending = [];
    this.sb = null;
    this.stream = liveStream(this.id);
    this.liveAudio = false; // until the init segment says
    this.applySound();
    const cam = camera(this.id);
    // A recording camera's session carries the picture; outside its
    // windows nvr connects for as long as someone watches.
    this.showOverlay(cam && cam.state === 'disabled' ? 'no live picture: the camera is disabled' : 'connecting…');
    const ms = new MediaSource();
    this.ms = ms;
    this.video.src = URL.createObjectURL(ms);
    ms.addEventListener('sourceopen', () => {
      if (gen !== this.liveGen) return;
      const q = [];
      if (this.stream === 'sub') q.push('stream=sub');
      if (this.noSound) q.push('audio=0');
      const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/cameras/' + enc(this.id) + '/live' +
        (q.length ? '?' + q.join('&') : ''));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onmessage = (m) => this.liveMessage(m.data);
      ws.onclose = () => {
        if (gen !== this.liveGen) return;
        this.showOverlay('reconnecting…');
        this.retry = setTimeout(() => { if (gen === this.liveGen) this.startLive(); }, 1000);
      };
    }, { once: true });
    this.edgeTimer = setInterval(() => this.keepLive(), 250);
  },

  stopLive() {
    this.liveGen = (this.liveGen || 0) + 1;
    clearTimeout(this.retry);
    clearInterval(this.edgeTimer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    if (this.ms) { URL.revokeObjectURL(this.video.src); this.ms = null; }
    this.sb = null;
    this.mode = 'playback';
  },

  liveMessage(data) {
    if (typeof data === 'string') {
      let m;
      try { m = JSON.parse(data); } catch (_) { return; }
      if (m.type !== 'init') return;
      const mime = 'video/mp4; codecs="' + m.codec + '"';
      const videoCodec = m.codec.split(',')[0];
      if (!window.MediaSource || !MediaSource.isTypeSupported(mime)) {
        if (m.codec.includes(',') && window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="' + videoCodec + '"')) {
          // The picture plays but the sound does not (an open-source
          // Chromium has no AAC): ask for the picture alone, from now on.
          this.noSound = true;
          this.showNote('sound not playable in this browser');
          this.startLive();
          return;
        }
        this.showOverlay('this browser cannot play ' + codecName(videoCodec) + ' video (' + m.codec + ')');
        this.unplayable = true;
        return;
      }
      this.unplayable = false;
      // A SourceBuffer keeps the tracks of its first init segment: when
      // the camera's sound comes or goes (the codec string gains or loses
      // a track), start over with a new MediaSource.
      const tracks = m.codec.split(',').length;
      if (this.sb && tracks !== this.tracks) {
        this.startLive();
        return;
      }
      this.tracks = tracks;
      this.liveAudio = tracks > 1;
      this.applySound();
      if (!this.sb) {
        this.sb = this.ms.addSourceBuffer(mime);
        this.sb.mode = 'segments';
        this.sb.addEventListener('updateend', () => this.appendNext());
      } else {
        // A new decoder configuration, whose timeline starts at zero again:
        // it goes on where the buffered picture ends.
        this.pending.push({ change: mime });
      }
      return;
    }
    if (this.unplayable || !this.sb) return;
    const dv = new DataView(data);
    const item = { data: new Uint8Array(data, 17), frame: dv.getUint8(0) === 1,
      arrivalMs: Number(dv.getBigUint64(1)) / 1e6, pts: Number(dv.getBigUint64(9)) / 90000 };
    this.lastArrival = Date.now();
    if (this.pending.length > LIVE_MAX_PENDING) this.pending.length = 0; // the next init or keyframe restarts
    this.pending.push(item);
    this.appendNext();
  },

  appendNext() {
    const sb = this.sb;
    if (!sb || sb.updating || !this.pending.length) return;
    const next = this.pending.shift();
    try {
      if (next.change) {
        if (sb.changeType) sb.changeType(next.change);
        const b = this.video.buffered;
        sb.timestampOffset = b.length ? b.end(b.length - 1) : 0;
        this.appendNext();
        return;
      }
      if (next.frame) {
        // The media time the frame will show at names it for the latency.
        this.arrivals.push([next.pts + sb.timestampOffset, next.arrivalMs]);
        if (this.arrivals.length > 600) this.arrivals.splice(0, 300);
      }
      sb.appendBuffer(next.data);
    } catch (e) {
      // A full buffer or a stale one: drop the played part and go on.
      this.pending.length = 0;
      this.trimLive(true);
    }
  },

  keepLive() {
    const v = this.video, b = v.buffered;
    // No frame for a while: the camera reconnects (nvr does it) — say so.
    if (this.lastArrival && Date.now() - this.lastArrival > LIVE_STALL_MS) this.showOverlay('waiting for the camera…');
    if (!b.length) return;
    const end = b.end(b.length - 1);
    if (end - v.currentTime > LIVE_EDGE_S || v.currentTime < b.start(0)) v.currentTime = Math.max(b.start(b.length - 1), end - 0.1);
    if (v.paused && state.playing) v.play().catch(() => {});
    this.trimLive(false);
  },

  trimLive(all) {
    const sb = this.sb, v = this.video;
    if (!sb || sb.updating || !v.buffered.length) return;
    const keepFrom = all ? v.currentTime - 1 : v.currentTime - LIVE_KEEP_S;
    if (keepFrom > v.buffered.start(0) + 1) sb.remove(v.buffered.start(0), keepFrom);
  },

  liveFrame(mediaTime) {
    // The frame's arrival at nvr: its presentation time names it.
    let best = null;
    for (let i = this.arrivals.length - 1; i >= 0; i--) {
      if (Math.abs(this.arrivals[i][0] - mediaTime) < 0.002) { best = this.arrivals[i][1]; break; }
    }
    this.showOverlay('');
    if (best == null) return;
    const latency = Date.now() - best;
    state.liveLatency.push(latency);
    if (state.liveLatency.length > 500) state.liveLatency.splice(0, 250);
    this.frameWall = best;
    if (this === players.get(state.selected[0])) $('clock').textContent = fmtTime(best, true) + ' · live';
  },
});

function goLive() {
  state.live = true;
  state.playing = true;
  $('play').textContent = 'Pause';
  state.playhead = null;
  state.lastSeek = null;
  $('live').classList.add('on');
  for (const p of players.values()) p.startLive();
  updateURL();
}

const players = new Map();

function syncPlayers() {
  const box = $('videos');
  for (const [id, p] of players) if (!state.selected.includes(id)) { p.stopLive(); p.video.removeAttribute('src'); p.video.load(); players.delete(id); }
  box.textContent = '';
  for (const id of state.selected) {
    const c = camera(id);
    if (!c) continue;
    if (!players.has(id)) {
      const p = new Player(c);
      players.set(id, p);
      if (state.live) p.startLive();
    } else if (state.live && players.get(id).mode === 'live' && players.get(id).stream !== liveStream(id)) {
      // From the grid to the single view or back: the other stream.
      players.get(id).startLive();
    }
    box.append(players.get(id).tile);
  }
}

// leader is the player whose frames set the clock: the first selected one
// with footage loaded.
function leader() {
  if (state.live) return null;
  for (const id of state.selected) {
    const p = players.get(id);
    if (p && p.pieces.length && p.video.readyState >= 1) return p;
  }
  return null;
}

function onFrame(wall) {
  if (wall == null) return;
  const now = performance.now();
  if (state.lastFrameAt != null) state.maxFrameGap = Math.max(state.maxFrameGap, now - state.lastFrameAt);
  state.lastFrameAt = now;
  if (state.lastSeek && state.lastSeek.armed && state.lastSeek.frame == null) {
    state.lastSeek.frame = wall;
    state.lastSeek.frameAt = performance.now();
  }
  state.playhead = wall;
  $('clock').textContent = fmtTime(wall, true);
  drawTimeline();
}

async function seek(wall) {
  if (state.live) { state.live = false; $('live').classList.remove('on'); }
  // lastSeek.frame becomes the wall time of the first frame shown after
  // it: what a deep link or a click shows (the browser tests read it).
  state.lastSeek = { target: wall, frame: null, armed: false, startedAt: performance.now(), frameAt: null };
  state.lastFrameAt = null;
  state.maxFrameGap = 0;
  state.playhead = wall;
  $('clock').textContent = fmtTime(wall, true);
  updateURL();
  // Keep the playhead in view.
  const v = state.view, w = v.end - v.start;
  if (wall < v.start || wall > v.end) { v.start = wall - w / 2; v.end = wall + w / 2; refreshView(); }
  await Promise.all([...players.values()].map((p) => p.seek(wall).catch((e) => setStatus(e.message))));
  drawTimeline();
}

// Followers follow the leader's position; one in a gap waits, paused,
// showing when its footage resumes.
setInterval(() => {
  const lead = leader();
  const wall = lead && lead.wallNow();
  if (wall == null) return;
  for (const p of players.values()) {
    if (p === lead || p.busy) continue;
    if (!p.covers(wall)) { if (state.playing) p.seek(wall).catch(() => {}); continue; }
    const m = p.mediaAt(wall);
    if (!m || m.gap) {
      if (!p.video.paused) p.video.pause();
      p.showOverlay(m ? 'gap until ' + fmtTime(m.next) : 'no footage');
      if (m) p.video.currentTime = m.t;
      continue;
    }
    p.showOverlay('');
    const drift = p.video.currentTime - m.t; // > 0: ahead of the leader
    if (!state.playing || Math.abs(drift) > SYNC_SEEK_S) {
      if (Math.abs(drift) > SYNC_DEADBAND_S) p.video.currentTime = m.t + (state.playing ? p.seekLag * state.rate : 0);
      p.video.playbackRate = state.rate;
    } else {
      // Close the gap over about a second: |drift| <= SYNC_SEEK_S here, so
      // the rate stays within ±30 %. In steps of 10 %, set only when it
      // changes: WebKit's GStreamer player seeks for each new rate, and a
      // rate that moved every tick kept it seeking, falling further behind.
      const nudge = Math.abs(drift) > SYNC_DEADBAND_S ? -Math.sign(drift) * Math.max(0.1, Math.round(Math.abs(drift) * 10) / 10) : 0;
      const rate = state.rate * (1 + nudge);
      if (p.video.playbackRate !== rate) p.video.playbackRate = rate;
    }
    if (state.playing && p.video.paused) p.video.play().catch(() => {});
    if (!state.playing && !p.video.paused) p.video.pause();
  }
}, SYNC_EVERY_MS);

function setPlaying(on) {
  const was = state.playing;
  state.playing = on;
  $('play').textContent = on ? 'Pause' : 'Play';
  for (const p of players.values()) {
    p.video.playbackRate = state.rate;
    if (on && p.pieces.length) { p.video.play().catch(() => {}); continue; }
    p.video.pause();
    // Paused, the picture and the time given for it can be a frame apart
    // (Firefox reports a frame it has not shown yet; WebKit under load shows
    // one past its currentTime): a seek to where the video stopped shows the
    // frame at that position and reports it anew. WebKit treats a seek to
    // currentTime itself as done without showing anything, so it goes to
    // the middle of that frame.
    if (was && p.mode !== 'live' && p.pieces.length && !p.video.seeking) p.showFrame(p.midFrame(p.video.currentTime));
  }
}

function step(frames) {
  setPlaying(false);
  const lead = leader();
  if (!lead) return;
  // From the frame on screen to the middle of the one asked for, in media
  // time (so a step crosses a gap): a seek to a frame's very start can
  // round to the frame before it, and the paused position may lie anywhere
  // within the frame shown. frameWall is the frame's start, or (Firefox,
  // paused) a moment within it, such as the middle a step before asked for.
  const shown = lead.frameWall != null ? lead.mediaAt(lead.frameWall) : null;
  const t = shown && !shown.gap
    ? shown.t + (frames + (lead.frameWithin ? 0 : 0.5)) / state.fps
    : lead.video.currentTime + frames / state.fps;
  const w = lead.wallAt(Math.max(0, t));
  if (w != null) seek(w);
}

// ---------- timeline ----------

const canvas = $('timeline');
const TICKS = [SEC, 2 * SEC, 5 * SEC, 10 * SEC, 15 * SEC, 30 * SEC, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN,
  HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

function xOf(t) { const v = state.view; return (t - v.start) / (v.end - v.start) * canvas.clientWidth; }
function tOf(x) { const v = state.view; return v.start + x / canvas.clientWidth * (v.end - v.start); }

// ticks returns [time, label, major] in the zone, aligned to local time.
function ticks() {
  const v = state.view, w = canvas.clientWidth || 1;
  const step = TICKS.find((s) => s / (v.end - v.start) * w >= 90) || 7 * DAY;
  const out = [];
  if (step >= DAY) {
    const every = step / DAY;
    let i = 0;
    for (let t = startOfDay(v.start); t < v.end && out.length < 400; t = nextDay(t), i++) {
      const p = zparts(t);
      if (i % every === 0 && t >= v.start) out.push([t, `${pad(p.mo)}-${pad(p.d)}`, true]);
    }
    return out;
  }
  // Align in local time: offsets are whole minutes, so add the offset,
  // round down to the step, and take it off again.
  const off = zparts(v.start).off * MIN;
  for (let t = Math.floor((v.start + off) / step) * step - off; t < v.end && out.length < 400; t += step) {
    if (t < v.start) continue;
    const p = zparts(t);
    const major = p.h === 0 && p.mi === 0 && p.s === 0;
    let label = step < MIN ? `${pad(p.h)}:${pad(p.mi)}:${pad(p.s)}` : `${pad(p.h)}:${pad(p.mi)}`;
    if (major) label = fmtDate(p);
    out.push([t, label, major]);
  }
  return out;
}

function drawTimeline() {
  const dpr = window.devicePixelRatio || 1;
  const W = canvas.clientWidth, H = canvas.clientHeight;
  if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
  const g = canvas.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.fillStyle = '#111418';
  g.fillRect(0, 0, W, H);
  const top = 18, rows = Math.max(1, state.selected.length), rh = (H - top - 2) / rows;
  state.selected.forEach((id, i) => {
    const y = top + i * rh;
    g.fillStyle = '#2b323c';
    g.fillRect(0, y + 1, W, rh - 2);
    g.fillStyle = '#3fb950';
    // Spans that touch within a pixel are drawn as one rectangle: a
    // row costs at most one fillRect a pixel however many spans it has.
    let run0 = -1, run1 = -1;
    for (const [s, e] of spans.get(id)?.list || []) {
      if (e < state.view.start || s > state.view.end) continue;
      const x0 = Math.max(0, xOf(s)), x1 = Math.max(x0 + 1, Math.min(W, xOf(e)));
      if (run1 >= 0 && x0 <= run1 + 1) { run1 = Math.max(run1, x1); continue; }
      if (run1 >= 0) g.fillRect(run0, y + 1, run1 - run0, rh - 2);
      run0 = x0; run1 = x1;
    }
    if (run1 >= 0) g.fillRect(run0, y + 1, run1 - run0, rh - 2);
  });
  g.font = '11px system-ui, sans-serif';
  for (const [t, label, major] of ticks()) {
    const x = Math.round(xOf(t)) + 0.5;
    g.strokeStyle = major ? '#8b95a3' : '#3a424d';
    g.beginPath(); g.moveTo(x, major ? 0 : 12); g.lineTo(x, H); g.stroke();
    g.fillStyle = major ? '#e6e9ee' : '#8b95a3';
    g.fillText(label, x + 3, 11);
  }
  if (state.in != null && state.out != null) {
    g.fillStyle = 'rgba(88,166,255,.25)';
    g.fillRect(xOf(state.in), top, xOf(state.out) - xOf(state.in), H - top);
  }
  const now = Date.now();
  if (now > state.view.start && now < state.view.end) {
    g.strokeStyle = '#d29922'; g.beginPath(); g.moveTo(xOf(now), top); g.lineTo(xOf(now), H); g.stroke();
  }
  if (state.playhead != null) {
    const x = xOf(state.playhead);
    g.strokeStyle = '#58a6ff'; g.lineWidth = 2;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, H); g.stroke();
    g.lineWidth = 1;
  }
}

let refreshTimer = null;
function refreshView(force) {
  drawTimeline();
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      await Promise.all(state.selected.map((id) => loadSpans(id, force)));
      setStatus('');
    } catch (e) { setStatus(e.message); }
    drawTimeline();
    renderCalendar();
  }, 80);
}

function zoom(factor, at) {
  const v = state.view;
  const w = Math.min(MAX_VIEW, Math.max(MIN_VIEW, (v.end - v.start) * factor));
  const a = at ?? (state.playhead ?? (v.start + v.end) / 2);
  const k = (a - v.start) / (v.end - v.start);
  v.start = a - k * w; v.end = v.start + w;
  refreshView();
}

// One pointer taps to play, drags to pan (shift-drag selects); two (a
// pinch on a touch screen) zoom about the moment between them, which
// stays between the fingers.
let drag = null, pinch = null;
const pointers = new Map(); // pointerId -> offsetX
function pinchState() {
  const [a, b] = [...pointers.values()];
  return { d: Math.max(1, Math.abs(a - b)), x: (a + b) / 2 };
}
canvas.addEventListener('pointerdown', (e) => {
  canvas.setPointerCapture(e.pointerId);
  pointers.set(e.pointerId, e.offsetX);
  if (pointers.size === 2) {
    const p = pinchState();
    pinch = { ...p, view: { ...state.view }, at: tOf(p.x) };
    drag = null;
    return;
  }
  if (pointers.size > 2 || pinch) return;
  // A finger's tap wanders a few pixels more than a mouse's click.
  drag = { x: e.offsetX, view: { ...state.view }, moved: false, select: e.shiftKey, t0: tOf(e.offsetX), slop: e.pointerType === 'touch' ? 10 : 3 };
});
function endPointer(e) {
  pointers.delete(e.pointerId);
  if (pointers.size < 2) pinch = null;
}
canvas.addEventListener('pointercancel', (e) => { endPointer(e); drag = null; });
canvas.addEventListener('pointermove', (e) => {
  if (pointers.has(e.pointerId)) pointers.set(e.pointerId, e.offsetX);
  if (pinch && pointers.size === 2) {
    const p = pinchState(), w0 = pinch.view.end - pinch.view.start;
    const w = Math.min(MAX_VIEW, Math.max(MIN_VIEW, w0 * pinch.d / p.d));
    state.view.start = pinch.at - p.x / canvas.clientWidth * w;
    state.view.end = state.view.start + w;
    refreshView();
    return;
  }
  $('hover').textContent = fmtTime(tOf(e.offsetX));
  schedulePreview(e);
  if (!drag) return;
  const dx = e.offsetX - drag.x;
  if (Math.abs(dx) > drag.slop) drag.moved = true;
  if (!drag.moved) return;
  if (drag.select) {
    const t = tOf(e.offsetX);
    setRange(Math.min(drag.t0, t), Math.max(drag.t0, t));
  } else {
    const k = (drag.view.end - drag.view.start) / canvas.clientWidth;
    state.view.start = drag.view.start - dx * k;
    state.view.end = drag.view.end - dx * k;
    refreshView();
  }
});
canvas.addEventListener('pointerup', (e) => {
  endPointer(e);
  // A tap plays where it touched (a finger lifts a few pixels off).
  if (drag && !drag.moved) seek(tOf(drag.x));
  drag = null;
});
canvas.addEventListener('pointerleave', () => { $('hover').textContent = ''; hidePreview(); });
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  zoom(Math.pow(1.2, e.deltaY / 100), tOf(e.offsetX));
}, { passive: false });

// ---------- scrub previews ----------
// Hovering or dragging over the timeline shows the picture of that moment:
// the keyframe that shows it, fetched as a one-frame MP4
// (/api/cameras/{id}/preview) and decoded by the browser into a canvas.
// A camera that records its sub stream previews from it (smaller pictures;
// the server answers with the main stream's where the sub has none).
// Requests are spaced PREVIEW_EVERY_MS apart and rounded to a step that
// depends on the zoom, so the browser's cache answers most of them.

const PREVIEW_EVERY_MS = 150;
let previewTimer = null, previewWant = null, previewBusy = false;
const previewVideo = document.createElement('video');
previewVideo.muted = true;
previewVideo.preload = 'auto';

function schedulePreview(e) {
  const rows = Math.max(1, state.selected.length);
  const row = Math.min(rows - 1, Math.max(0, Math.floor((e.offsetY - 18) / ((canvas.clientHeight - 20) / rows))));
  const id = state.selected[row];
  if (!id) return;
  const raw = tOf(e.offsetX);
  const span = (spans.get(id)?.list || []).find(([s, x]) => raw >= s && raw < x);
  if (!span) { hidePreview(); return; }
  // Rounded to a few pixels' worth (at least a second), within the span.
  const step = Math.max(SEC, (state.view.end - state.view.start) / canvas.clientWidth * 4);
  const t = Math.min(span[1] - 1, Math.max(span[0] + 1, Math.round(raw / step) * step));
  previewWant = { id, t, x: e.offsetX };
  const box = $('preview');
  box.style.left = Math.min(canvas.clientWidth - 100, Math.max(100, e.offsetX)) + 'px';
  if (!previewTimer) previewTimer = setTimeout(loadPreview, PREVIEW_EVERY_MS);
}

// previewStream is the stream the scrub previews of camera id ask for.
function previewStream(id) {
  const cam = camera(id);
  return cam && cam.sub_stream && cam.sub_stream.recorded ? 'sub' : 'main';
}

function hidePreview() {
  previewWant = null;
  $('preview').hidden = true;
}

function drawPreview() {
  const c = $('preview-canvas'), g = c.getContext('2d');
  const vw = previewVideo.videoWidth || 16, vh = previewVideo.videoHeight || 9;
  const k = Math.min(c.width / vw, c.height / vh);
  g.fillStyle = '#000';
  g.fillRect(0, 0, c.width, c.height);
  g.drawImage(previewVideo, (c.width - vw * k) / 2, (c.height - vh * k) / 2, vw * k, vh * k);
}

async function loadPreview() {
  previewTimer = null;
  const want = previewWant;
  if (!want || previewBusy) return;
  previewBusy = true;
  try {
    await new Promise((resolve, reject) => {
      // Loaded, then sought to its frame: only then is the picture decoded
      // and ready to be drawn. (Not to 0, where it already is: WebKit
      // takes that seek as done without decoding, and on a busy machine
      // then never learns the picture's size.)
      const loaded = () => { previewVideo.currentTime = 0.001; };
      const ok = () => { cleanup(); resolve(); };
      const bad = () => { cleanup(); reject(new Error('no preview')); };
      const timer = setTimeout(bad, 3000);
      const cleanup = () => {
        clearTimeout(timer);
        previewVideo.removeEventListener('loadeddata', loaded);
        previewVideo.removeEventListener('seeked', ok);
        previewVideo.removeEventListener('error', bad);
      };
      previewVideo.addEventListener('loadeddata', loaded);
      previewVideo.addEventListener('seeked', ok);
      previewVideo.addEventListener('error', bad);
      previewVideo.src = `/api/cameras/${enc(want.id)}/preview?t=${iso(want.t)}${previewStream(want.id) === 'sub' ? '&stream=sub' : ''}`;
    });
    if (previewWant) {
      drawPreview();
      $('preview-time').textContent = fmtTime(want.t);
      $('preview').hidden = false;
      state.previews++;
    }
  } catch (_) {
    // No picture there (a gap, a deleted segment): show none.
  } finally {
    previewBusy = false;
  }
  if (previewWant && previewWant !== want) previewTimer = setTimeout(loadPreview, PREVIEW_EVERY_MS);
}

// ---------- calendar ----------
// The days of the month around the view, marked where any selected camera
// has footage.

async function renderCalendar() {
  const box = $('calendar');
  const mid = (state.view.start + state.view.end) / 2;
  const p = zparts(mid);
  const first = localToUTC(p.y, p.mo, 1), last = localToUTC(p.y, p.mo + 1, 1);
  const days = [];
  for (let t = first; t < last; t = nextDay(t)) days.push(t);
  const lists = [];
  for (const id of state.selected) {
    try {
      lists.push(await fetchSpans(id, first, last, MIN));
    } catch (_) { /* shown in the status line by refreshView */ }
  }
  box.textContent = '';
  const today = startOfDay(Date.now());
  for (const d of days) {
    const e = nextDay(d);
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = String(zparts(d).d);
    const has = lists.some((l) => l.some(([s, x]) => s < e && x > d));
    if (has) b.classList.add('has');
    if (d === today) b.classList.add('today');
    b.title = fmtDate(zparts(d)) + (has ? ' — footage' : ' — none') + ' (' + Math.round((e - d) / HOUR) + ' h)';
    b.onclick = () => { state.view.start = d; state.view.end = e; refreshView(); };
    box.append(b);
  }
}

// ---------- export ----------

function setRange(a, b) {
  state.in = a; state.out = b;
  $('in-time').textContent = a != null ? fmtTime(a, true) : '--';
  $('out-time').textContent = b != null ? fmtTime(b, true) : '--';
  drawTimeline();
  updateExport();
}

let exportTimer = null;
function updateExport() {
  clearTimeout(exportTimer);
  const links = $('export-links');
  links.textContent = '';
  const info = $('export-info');
  if (state.in == null || state.out == null || state.out <= state.in) { info.textContent = ''; return; }
  info.textContent = fmtDuration(state.out - state.in);
  exportTimer = setTimeout(async () => {
    const subs = $('subtitles').checked ? '&timestamps=true' : '';
    let total = 0;
    for (const id of state.selected) {
      const url = `/api/cameras/${enc(id)}/export?start=${iso(state.in)}&end=${iso(state.out)}${subs}`;
      const r = await fetch(url, { method: 'HEAD' });
      const a = document.createElement('a');
      a.href = url;
      a.setAttribute('download', '');
      a.textContent = 'Download ' + (camera(id)?.name || id);
      if (r.ok) {
        total += Number(r.headers.get('Content-Length') || 0);
        links.append(a);
      } else {
        const s = document.createElement('span');
        s.className = 'muted';
        s.textContent = (camera(id)?.name || id) + ': ' + (r.status === 404 ? 'no footage' : 'HTTP ' + r.status);
        links.append(s);
      }
    }
    info.textContent = fmtDuration(state.out - state.in) + ' · ' + fmtBytes(total);
  }, 150);
}

// ---------- URL ----------
// /?camera=ID[&camera=ID…]&t=RFC3339 names what is on screen; it is part of
// the interface and opens that moment.

function updateURL() {
  const q = new URLSearchParams();
  for (const id of state.selected) q.append('camera', id);
  if (state.playhead != null && !state.live) q.set('t', iso(Math.round(state.playhead)));
  history.replaceState(null, '', '/?' + q.toString());
}

// ---------- wiring ----------

function bind() {
  $('play').onclick = () => setPlaying(!state.playing);
  $('live').onclick = () => goLive();
  $('step-back').onclick = () => step(-1);
  $('step-fwd').onclick = () => step(1);
  $('speed').onchange = (e) => { state.rate = Number(e.target.value); for (const p of players.values()) p.video.playbackRate = state.rate; };
  $('zoom-in').onclick = () => zoom(1 / 2);
  $('zoom-out').onclick = () => zoom(2);
  $('now').onclick = () => { const w = state.view.end - state.view.start; state.view.end = Date.now() + w * 0.05; state.view.start = state.view.end - w; refreshView(); };
  $('day').onchange = (e) => {
    const [y, mo, d] = e.target.value.split('-').map(Number);
    if (!y) return;
    state.view.start = localToUTC(y, mo, d); state.view.end = localToUTC(y, mo, d + 1);
    refreshView();
  };
  const frame = () => 1000 / state.fps;
  $('mark-in').onclick = () => state.playhead != null && setRange(state.playhead, state.out ?? state.playhead + MIN);
  $('mark-out').onclick = () => state.playhead != null && setRange(state.in ?? state.playhead - MIN, state.playhead);
  $('in-back').onclick = () => state.in != null && setRange(state.in - frame(), state.out);
  $('in-fwd').onclick = () => state.in != null && setRange(state.in + frame(), state.out);
  $('out-back').onclick = () => state.out != null && setRange(state.in, state.out - frame());
  $('out-fwd').onclick = () => state.out != null && setRange(state.in, state.out + frame());
  $('subtitles').onchange = updateExport;
  $('export').onsubmit = (e) => e.preventDefault();
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('input, select, textarea')) return;
    const jump = e.shiftKey ? MIN : 5 * SEC;
    switch (e.key) {
      case ' ': e.preventDefault(); setPlaying(!state.playing); break;
      case 'ArrowLeft': e.preventDefault(); if (state.playhead != null) seek(state.playhead - jump); break;
      case 'ArrowRight': e.preventDefault(); if (state.playhead != null) seek(state.playhead + jump); break;
      case ',': step(-1); break;
      case '.': step(1); break;
      case '+': case '=': zoom(1 / 2); break;
      case '-': zoom(2); break;
      case 'i': $('mark-in').click(); break;
      case 'o': $('mark-out').click(); break;
    }
  });
  window.addEventListener('resize', drawTimeline);
}

async function estimateFPS(id) {
  const c = camera(id);
  if (!c || !c.last) return;
  const end = Date.parse(c.last);
  try {
    const r = await api(`/api/cameras/${enc(id)}/segments?start=${iso(end - 10 * MIN)}&end=${iso(end + SEC)}&limit=1000`);
    const s = r.segments.filter((x) => x.end && x.frames > 1).pop();
    if (s) state.fps = s.frames / ((Date.parse(s.end) - Date.parse(s.start)) / 1000);
  } catch (_) { /* keep the default */ }
}

async function main() {
  bind();
  try {
    const info = await api('/api/info');
    setZone(info.timezone || 'UTC');
    state.signIn = !!info.sign_in;
  } catch (_) {
    setZone('UTC');
  }
  if (state.signIn) {
    try {
      const s = await api('/api/session');
      if (s.user) {
        $('user').textContent = s.user;
        $('csrf').value = s.csrf;
        $('signout').hidden = false;
      }
    } catch (e) { setStatus(e.message); }
  }
  $('zone').textContent = state.zone;
  try {
    await loadCameras();
  } catch (e) {
    setStatus(e.message);
    return;
  }
  const q = new URLSearchParams(location.search);
  const asked = q.getAll('camera').filter((id) => camera(id));
  state.selected = asked.length ? asked : state.cameras.slice(0, 1).map((c) => c.id);
  renderCameras();
  syncPlayers();
  if (state.selected[0]) await estimateFPS(state.selected[0]);
  const t = q.has('t') ? Date.parse(q.get('t')) : NaN;
  if (Number.isNaN(t)) {
    // No moment asked for: the live picture, the last half hour in view.
    state.view.start = Date.now() - 30 * MIN; state.view.end = Date.now() + 2 * MIN;
    goLive();
  } else {
    state.view.start = t - 30 * MIN; state.view.end = t + 30 * MIN;
    state.playing = true;
    $('play').textContent = 'Pause';
    await seek(t);
  }
  refreshView(true);
  followEvents();
  setInterval(refreshAll, REFRESH_MS);
}

// For the browser tests and for curious users in the console.
window.nvr = {
  state, players, spans, goLive, setAudible, drawTimeline, seek, setPlaying, selectCamera,
  preview: () => ({ want: previewWant, busy: previewBusy, timer: !!previewTimer, src: previewVideo.src, error: previewVideo.error?.code, ready: previewVideo.readyState, width: previewVideo.videoWidth, height: previewVideo.videoHeight }),
};

main();
