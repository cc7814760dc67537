// The library page: lists /api/songs, filters them as the user types, links each to the player.
// Filtering re-renders the list (rather than hiding rows) so `.song` always means "a visible match".
"use strict";

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function songRow(song) {
  const chips = el("span", { class: "chips" },
    ...song.stems.map((st) => el("span", { class: "chip", style: `--c:${st.colour}`, title: st.role }, st.name)));
  const meta = [song.artist, song.album].filter(Boolean).join(" · ");
  const link = el("a", { class: "song", "data-id": song.id, href: `/player?id=${encodeURIComponent(song.id)}` },
    el("span", {}, el("div", { class: "title" }, song.title), el("div", { class: "meta" }, meta || song.path)),
    el("span", { class: "facts" }, el("div", {}, formatTime(song.duration)), el("div", {}, song.preset)),
    chips);
  return el("li", {}, link);
}

function matches(song, words) {
  const hay = `${song.title} ${song.artist} ${song.album}`.toLowerCase();
  return words.every((w) => hay.includes(w));
}

async function main() {
  const list = document.getElementById("songs");
  const search = document.getElementById("search");
  const status = document.getElementById("status");
  const count = document.getElementById("count");
  let songs = [];
  try {
    const resp = await fetch("/api/songs");
    if (!resp.ok) throw new Error((await resp.json()).error || resp.statusText);
    songs = await resp.json();
  } catch (err) {
    status.textContent = `Could not load the library: ${err.message}`;
    return;
  }
  function render() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = songs.filter((s) => matches(s, words));
    list.replaceChildren(...shown.map(songRow));
    count.textContent = `${shown.length} of ${songs.length} songs`;
    status.textContent = songs.length === 0 ? "No .snc files in this folder." : (shown.length ? "" : "No match.");
  }
  search.addEventListener("input", render);
  render();
}

main();
