// The SNC stem player.
//
// Why it plays the way it does:
// * Normal mode ("stems") plays synchronised per-stem streams in Web Audio. The song is fetched in
//   chunks (the first 2 s long so sound starts fast, then 10 s, each fetched while the previous one
//   plays). For each chunk every stem and the residual come as separate WAVs
//   (`audio?stem=NAME&start=&duration=`), are decoded with decodeAudioData, and all their
//   AudioBufferSourceNodes start at the same AudioContext time, each through its own GainNode.
//   Mute, solo and gain then only move those GainNodes with setTargetAtTime ramps (~20 ms): the
//   change is immediate and click-free and costs no new request.
// * The residual (mix minus all stems) has no lane; its gain follows the stems: the plain mean of
//   the stems' linear gains, so it is 1 when every stem is at 0 dB and the sum is the exact mix.
// * A profile (EQ, compression, loudness) or the binaural layout (HRTF) can only be rendered by the
//   server, so choosing one switches to "render" mode: ONE server-rendered stream per chunk
//   (`audio?profile=&layout=binaural&gain=&mute=&solo=`). In that mode a mix change refetches from
//   the current position (debounced while a slider moves).
// * Seek stops the sources, fetches from the new position and restarts: a 2 s first chunk keeps
//   that fast. Each play/seek/mode change starts a new "session"; bumping `session` and aborting
//   its fetches cancels the old one, so late responses can never play.
//
// window.sncPlayer exposes the state for tests and for debugging from the console.
"use strict";

const FIRST_CHUNK_S = 2;
const CHUNK_S = 10;
const PREFETCH_AHEAD_S = 5; // fetch the next chunk once less than this much audio is scheduled
const START_LEAD_S = 0.05; // schedule a new chunk this far ahead: all its sources start together
const RAMP_TC = 0.007; // setTargetAtTime time constant: ~95 % of a gain change in 20 ms
const RENDER_DEBOUNCE_MS = 250;
const MIN_DB = -24, MAX_DB = 12;

const songId = new URLSearchParams(location.search).get("id");
const api = `/api/songs/${encodeURIComponent(songId || "")}`;

let song = null;
let stems = []; // stem names in lane order (key 1 = first)
let ctx = null;
let master = null; // GainNode before the destination: fades out on stop so stops do not click
const nodes = {}; // name (stems, "residual", "render") -> GainNode
let session = 0; // the running session's number; a new one cancels the old
let aborter = null; // AbortController of the running session's fetches
let sources = []; // AudioBufferSourceNodes scheduled by the running session
let anchor = null; // {ctxTime, pos}: song position `pos` plays at context time `ctxTime`
let pausedAt = 0; // the position while paused (and while the first chunk of a session loads)
let renderTimer = 0;

const player = {
  state: "paused",
  get position() { return currentPosition(); },
  muted: {},
  soloed: {},
  gains: {},
  mode: "stems",
  requests: [],
};
window.sncPlayer = player;

const $ = (sel, root = document) => root.querySelector(sel);
const status = (msg) => { $("#status").textContent = msg || ""; };

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function currentPosition() {
  if (player.state !== "playing" || !anchor || !ctx) return pausedAt;
  const pos = anchor.pos + Math.max(0, ctx.currentTime - anchor.ctxTime);
  return Math.min(song.duration, pos);
}

// ---------------------------------------------------------------- network

async function getJson(url) {
  player.requests.push(url);
  const resp = await fetch(url);
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || `${resp.status} ${resp.statusText}`);
  return body;
}

async function getAudio(url, signal) {
  player.requests.push(url);
  const resp = await fetch(url, { signal });
  if (!resp.ok) {
    let msg = `${resp.status} ${resp.statusText}`;
    try { msg = (await resp.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return ctx.decodeAudioData(await resp.arrayBuffer());
}

const num = (x) => String(Math.round(x * 1000) / 1000);

function audioUrl(name, start, duration) {
  const q = new URLSearchParams({ start: num(start), duration: num(duration), format: "wav" });
  if (name !== "render") {
    q.set("stem", name);
    return `${api}/audio?${q}`;
  }
  const profile = $("#profile").value;
  if (profile !== "none") q.append("profile", profile);
  if ($("#binaural").checked) q.append("layout", "binaural");
  for (const s of stems) {
    if (player.gains[s] !== 0) q.append("gain", `${s}:${player.gains[s]}`);
    if (player.muted[s]) q.append("mute", s);
    if (player.soloed[s]) q.append("solo", s);
  }
  return `${api}/audio?${q}`;
}

// one chunk: [name, AudioBuffer] for every stream the mode plays
function fetchChunk(mode, start, duration, signal) {
  const names = mode === "stems" ? [...stems, "residual"] : ["render"];
  return Promise.all(names.map(async (n) => [n, await getAudio(audioUrl(n, start, duration), signal)]));
}

// ---------------------------------------------------------------- audio graph

function ensureContext() {
  if (ctx) return;
  try { // the song's own rate: decodeAudioData then never resamples
    ctx = new AudioContext({ sampleRate: song.sample_rate, latencyHint: "playback" });
  } catch (_) {
    ctx = new AudioContext({ latencyHint: "playback" });
  }
  master = ctx.createGain();
  master.connect(ctx.destination);
  for (const n of [...stems, "residual", "render"]) {
    nodes[n] = ctx.createGain();
    nodes[n].connect(master);
  }
  applyGains(true);
}

// linear gain of every stream in stems mode, from mute/solo/gain
function stemGains() {
  const anySolo = stems.some((s) => player.soloed[s]);
  const g = {};
  for (const s of stems) {
    const off = player.muted[s] || (anySolo && !player.soloed[s]);
    g[s] = off ? 0 : Math.pow(10, player.gains[s] / 20);
  }
  g.residual = stems.length ? stems.reduce((a, s) => a + g[s], 0) / stems.length : 1;
  return g;
}

function applyGains(instant = false) {
  const g = stemGains();
  for (const s of stems) {
    document.querySelector(`.lane[data-stem="${CSS.escape(s)}"]`).classList.toggle("silent", g[s] === 0);
  }
  if (!ctx) return;
  const now = ctx.currentTime;
  for (const [n, v] of Object.entries(g)) {
    if (instant) nodes[n].gain.value = v;
    else nodes[n].gain.setTargetAtTime(v, now, RAMP_TC);
  }
}

function stopSources() {
  if (!ctx) return;
  const now = ctx.currentTime;
  master.gain.cancelScheduledValues(now);
  master.gain.setTargetAtTime(0, now, 0.003); // fade ~10 ms, then stop: no click
  for (const src of sources) {
    try { src.stop(now + 0.012); } catch (_) { /* never started */ }
  }
  sources = [];
}

// ---------------------------------------------------------------- sessions

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond) {
  while (!cond()) await sleep(50);
}

// play from `pos` until the end, a pause, a seek or a mode change (a new session)
async function runSession(pos) {
  stopSources();
  const me = ++session;
  if (aborter) aborter.abort();
  aborter = new AbortController();
  const signal = aborter.signal;
  const live = () => me === session;
  const mode = player.mode;
  pausedAt = pos;
  anchor = null;

  let t = pos;
  let dur = Math.min(FIRST_CHUNK_S, song.duration - t);
  let next = fetchChunk(mode, t, dur, signal);
  try {
    for (;;) {
      const bufs = await next;
      if (!live()) return;
      const now = ctx.currentTime;
      if (!anchor) {
        // on a whole frame: every source of the session then starts exactly on a sample
        anchor = { ctxTime: Math.ceil((now + START_LEAD_S) * ctx.sampleRate) / ctx.sampleRate, pos: t };
        master.gain.cancelScheduledValues(now);
        master.gain.setValueAtTime(1, anchor.ctxTime);
      }
      let when = anchor.ctxTime + (t - anchor.pos);
      if (when < now + 0.01) { // the chunk came late: a short gap; shift the clock so the position stays true
        const late = Math.ceil((now + START_LEAD_S - when) * ctx.sampleRate) / ctx.sampleRate;
        anchor.ctxTime += late;
        when += late;
      }
      for (const [name, buf] of bufs) {
        const src = ctx.createBufferSource();
        src.buffer = buf;
        src.connect(nodes[name]);
        src.start(when);
        sources.push(src);
        src.onended = () => { sources = sources.filter((x) => x !== src); };
      }
      const end = when + dur;
      t += dur;
      if (t >= song.duration - 1e-3) break;
      dur = Math.min(CHUNK_S, song.duration - t);
      await waitFor(() => !live() || ctx.currentTime >= end - PREFETCH_AHEAD_S);
      if (!live()) return;
      next = fetchChunk(mode, t, dur, signal);
    }
    const endAt = anchor.ctxTime + (song.duration - anchor.pos);
    await waitFor(() => !live() || ctx.currentTime >= endAt);
    if (live()) { // played to the end
      session++;
      pausedAt = song.duration;
      setState("paused");
    }
  } catch (err) {
    if (!live() || err.name === "AbortError") return;
    status(`Playback stopped: ${err.message}`);
    pause();
  }
}

function setState(state) {
  player.state = state;
  $("#play").textContent = state === "playing" ? "Pause" : "Play";
  $("#play").setAttribute("aria-pressed", String(state === "playing"));
}

function play() {
  ensureContext();
  if (ctx.state !== "running") ctx.resume(); // autoplay policy: allowed now, inside a user gesture
  status("");
  if (pausedAt >= song.duration - 0.05) pausedAt = 0;
  setState("playing");
  runSession(pausedAt);
}

function pause() {
  pausedAt = currentPosition();
  session++;
  if (aborter) aborter.abort();
  stopSources();
  anchor = null;
  setState("paused");
}

function togglePlay() {
  if (player.state === "playing") pause();
  else play();
}

function seek(pos) {
  pos = Math.max(0, Math.min(song.duration - 0.05, pos));
  if (player.state === "playing") runSession(pos);
  else pausedAt = pos;
}

// mute/solo/gain changed
function mixChanged() {
  applyGains();
  if (player.mode === "render" && player.state === "playing") {
    clearTimeout(renderTimer); // a dragged slider refetches once it rests
    renderTimer = setTimeout(() => {
      if (player.state === "playing" && player.mode === "render") runSession(currentPosition());
    }, RENDER_DEBOUNCE_MS);
  }
}

// profile or binaural changed
function modeChanged() {
  player.mode = $("#profile").value !== "none" || $("#binaural").checked ? "render" : "stems";
  if (player.state === "playing") runSession(currentPosition());
}

// ---------------------------------------------------------------- lanes and waveforms

function buildLane(stem, index) {
  const lane = document.createElement("div");
  lane.className = "lane";
  lane.dataset.stem = stem.name;
  lane.style.setProperty("--c", stem.colour);
  lane.innerHTML = `
    <div class="head">
      <span class="name"></span>
      <button type="button" class="mute" aria-pressed="false">Mute</button>
      <button type="button" class="solo" aria-pressed="false">Solo</button>
      <label class="gainbox"><input class="gain" type="range" min="${MIN_DB}" max="${MAX_DB}" step="0.5" value="0">
        <span class="db">0.0 dB</span></label>
    </div>
    <div class="wave"><canvas></canvas><div class="playhead"></div></div>`;
  const name = $(".name", lane);
  name.textContent = stem.name + " ";
  const small = document.createElement("small");
  small.textContent = index < 9 ? `${stem.role} · key ${index + 1}` : stem.role;
  name.append(small);
  $(".gain", lane).setAttribute("aria-label", `${stem.name} gain in dB`);
  $(".mute", lane).setAttribute("aria-label", `Mute ${stem.name}`);
  $(".solo", lane).setAttribute("aria-label", `Solo ${stem.name}`);

  $(".mute", lane).addEventListener("click", () => toggle("muted", stem.name));
  $(".solo", lane).addEventListener("click", () => toggle("soloed", stem.name));
  const gain = $(".gain", lane);
  gain.addEventListener("input", () => setGain(stem.name, Number(gain.value)));
  gain.addEventListener("dblclick", () => setGain(stem.name, 0)); // double-click resets to 0 dB
  $(".wave", lane).addEventListener("pointerdown", (e) => {
    const r = e.currentTarget.getBoundingClientRect();
    seek(((e.clientX - r.left) / r.width) * song.duration);
  });
  return lane;
}

function laneOf(name) {
  return document.querySelector(`.lane[data-stem="${CSS.escape(name)}"]`);
}

function toggle(which, name) {
  player[which][name] = !player[which][name];
  $(which === "muted" ? ".mute" : ".solo", laneOf(name)).setAttribute("aria-pressed", String(player[which][name]));
  mixChanged();
}

function setGain(name, db) {
  player.gains[name] = db;
  const lane = laneOf(name);
  $(".gain", lane).value = String(db);
  $(".db", lane).textContent = `${db > 0 ? "+" : ""}${db.toFixed(1)} dB`;
  mixChanged();
}

const peaks = {}; // stem -> {min, max}

async function loadPeaks(name) {
  const canvas = $("canvas", laneOf(name));
  const width = Math.max(64, Math.min(4096, Math.round(canvas.clientWidth * devicePixelRatio)));
  try {
    peaks[name] = await getJson(`${api}/peaks?stem=${encodeURIComponent(name)}&width=${width}`);
  } catch (err) {
    status(`No waveform for ${name}: ${err.message}`);
    return;
  }
  drawWave(name);
}

function drawWave(name) {
  const lane = laneOf(name);
  const canvas = $("canvas", lane);
  const p = peaks[name];
  const w = Math.max(1, Math.round(canvas.clientWidth * devicePixelRatio));
  const h = Math.max(1, Math.round(canvas.clientHeight * devicePixelRatio));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  if (!p || !p.min.length) return;
  g.fillStyle = getComputedStyle(lane).getPropertyValue("--c") || "#888";
  const n = p.min.length;
  for (let x = 0; x < w; x++) { // resample the peaks to the canvas: the min of mins, the max of maxes
    const a = Math.floor((x * n) / w), b = Math.max(a + 1, Math.floor(((x + 1) * n) / w));
    let lo = 1, hi = -1;
    for (let i = a; i < b && i < n; i++) { lo = Math.min(lo, p.min[i]); hi = Math.max(hi, p.max[i]); }
    const y0 = ((1 - hi) / 2) * h, y1 = ((1 - lo) / 2) * h;
    g.fillRect(x, y0, 1, Math.max(1, y1 - y0));
  }
}

function tick() {
  if (song) {
    const pos = currentPosition();
    $("#time").textContent = `${formatTime(pos)} / ${formatTime(song.duration)}`;
    const pct = `${(100 * pos) / song.duration}%`;
    for (const ph of document.querySelectorAll(".playhead")) ph.style.left = pct;
  }
  requestAnimationFrame(tick);
}

// ---------------------------------------------------------------- keyboard

function onKey(e) {
  if (!song || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  const typing = t.tagName === "SELECT" || (t.tagName === "INPUT" && t.type !== "range" && t.type !== "checkbox");
  if (typing) return;
  if (e.key === " ") {
    e.preventDefault(); // no page scroll, and no click of a focused button (see keyup)
    if (!e.repeat) togglePlay();
  } else if ((e.key === "ArrowLeft" || e.key === "ArrowRight") && t.type !== "range") {
    e.preventDefault();
    seek(currentPosition() + (e.key === "ArrowLeft" ? -5 : 5));
  } else if (/^[1-9]$/.test(e.key) && stems[Number(e.key) - 1] !== undefined) {
    toggle("muted", stems[Number(e.key) - 1]);
  }
}

// ---------------------------------------------------------------- start

async function main() {
  if (!songId) { status("No song id in the address (player?id=...)."); return; }
  try {
    song = await getJson(api);
  } catch (err) {
    $("#title").textContent = "Song not found";
    status(err.message);
    return;
  }
  document.title = `${song.title} · SNC`;
  $("#title").textContent = song.title;
  $("#subtitle").textContent = [song.artist, song.album, song.preset].filter(Boolean).join(" · ");
  const lanesEl = $("#lanes");
  const playable = song.stems.filter((s) => s.role !== "residual" && s.role !== "master");
  stems = playable.map((s) => s.name);
  for (const s of stems) { player.muted[s] = false; player.soloed[s] = false; player.gains[s] = 0; }
  playable.forEach((s, i) => lanesEl.append(buildLane(s, i)));
  const sel = $("#profile");
  for (const p of song.profiles || []) sel.append(new Option(p, p));
  sel.addEventListener("change", modeChanged);
  $("#binaural").addEventListener("change", modeChanged);
  const playBtn = $("#play");
  playBtn.disabled = false;
  playBtn.addEventListener("click", togglePlay);
  document.addEventListener("keydown", onKey);
  document.addEventListener("keyup", (e) => { if (e.key === " " && e.target.tagName === "BUTTON") e.preventDefault(); });
  applyGains();
  stems.forEach(loadPeaks);
  new ResizeObserver(() => stems.forEach(drawWave)).observe(lanesEl);
  requestAnimationFrame(tick);
}

main();
