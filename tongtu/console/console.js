// tongtu console: plain JavaScript over the native /v1 API (no build step).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("tongtu.token"), library: null, cursor: null,
                selected: new Set(), images: new Map(), current: null, generation: 0,
                thumbKey: "", thumbTimer: null };

// --- messages and API -------------------------------------------------------------------

function say(text, ok = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message ? `${e.message} (error ${e.code})` : `HTTP ${status}`);
    this.status = status; this.code = e.code; this.body = e;
  }
}

async function api(method, path, { json, form } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  let r;
  try {
    r = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new Error(`the server cannot be reached (${err.message})`);
  }
  const data = r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    if (r.status === 401) signOut("Your session has ended: sign in again.");
    throw new ApiError(r.status, data);
  }
  return data;
}

const lib = () => `/v1/libraries/${encodeURIComponent(state.library)}`;
// Thumbnails are <img> URLs, which carry no header: a short-lived key for this library's
// thumbnails goes in them, never the token (it would land in every access log).
const thumb = (img) =>
  `${lib()}/images/${img.id}/thumbnail?thumb=${encodeURIComponent(state.thumbKey)}`;

async function refreshThumbKey() {
  const { key } = await api("POST", `${lib()}/thumbnail-key`);
  state.thumbKey = key;
}
const tagsText = (tags) => (tags.length ? `tags ${tags.join(", ")}` : "no tags");

async function guard(fn) {
  try { await fn(); } catch (err) { say(err.message); }
}

// --- sign in and navigation ---------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const body = new URLSearchParams({ grant_type: "client_credentials",
    client_id: $("#api-key").value.trim(), client_secret: $("#secret-key").value.trim() });
  const r = await fetch("/oauth/2.0/token", { method: "POST", body });
  const data = await r.json();
  if (!r.ok) { say(`Sign-in failed: ${data.error_description || data.error}`); return; }
  state.token = data.access_token;
  sessionStorage.setItem("tongtu.token", state.token);
  $("#secret-key").value = "";
  say("");
  await guard(start);
}

function signOut(reason = "") {
  state.token = null;
  state.thumbKey = "";
  clearInterval(state.thumbTimer);
  sessionStorage.removeItem("tongtu.token");
  $("#nav").hidden = true;
  show("signin");
  say(reason);
}

async function start() {
  const { libraries } = await api("GET", "/v1/libraries");
  const select = $("#library");
  select.replaceChildren(...libraries.map((l) => new Option(`${l.name} (${l.count})`, l.name)));
  if (!libraries.length) throw new Error("This app has no library.");
  const saved = sessionStorage.getItem("tongtu.library");
  state.library = libraries.some((l) => l.name === saved) ? saved : libraries[0].name;
  select.value = state.library;
  await refreshThumbKey();
  clearInterval(state.thumbTimer);
  state.thumbTimer = setInterval(() => guard(refreshThumbKey), 5 * 60 * 1000);
  $("#nav").hidden = false;
  show("gallery");
  await loadGallery(true);
}

function show(view) {
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${view}`;
  }
  for (const b of document.querySelectorAll("[data-view]")) {
    b.setAttribute("aria-pressed", String(b.dataset.view === view));
  }
}

// --- gallery ----------------------------------------------------------------------------------

async function loadStats() {
  const info = await api("GET", lib());
  const option = [...$("#library").options].find((o) => o.value === info.name);
  if (option) option.textContent = `${info.name} (${info.count})`;
  $("#stats").textContent =
    `${info.count} of ${info.capacity.toLocaleString("en")} images · model ${info.model}` +
    ` · threshold ${info.threshold}`;
}

async function loadGallery(reset) {
  // A newer load (another filter, library or view) makes the answers of this one stale.
  const generation = reset ? ++state.generation : state.generation;
  if (reset) {
    state.cursor = null; state.selected.clear(); state.images.clear();
    $("#grid").replaceChildren();
    updateSelection();
    await loadStats();
    if (generation !== state.generation) return;
  }
  const params = new URLSearchParams({ limit: "40" });
  if (state.cursor) params.set("cursor", state.cursor);
  const q = $("#filter-q").value.trim();
  const tags = $("#filter-tags").value.trim();
  if (q) params.set("q", q);
  if (tags) { params.set("tags", tags); params.set("tag_logic", $("#filter-logic").value); }
  const page = await api("GET", `${lib()}/images?${params}`);
  if (generation !== state.generation) return;
  for (const img of page.items) $("#grid").append(card(img));
  state.cursor = page.next_cursor;
  $("#more").hidden = !state.cursor;
  if (reset && !page.items.length) {
    say(q || tags ? "No image matches the filter." : "The library is empty: upload some images.", true);
  }
}

function card(img) {
  state.images.set(img.id, img);
  const li = document.createElement("li");
  li.dataset.id = img.id;
  const pick = document.createElement("input");
  pick.type = "checkbox"; pick.className = "pick";
  pick.setAttribute("aria-label", `Select ${img.brief || img.cont_sign}`);
  pick.addEventListener("change", () => {
    pick.checked ? state.selected.add(img.id) : state.selected.delete(img.id);
    li.classList.toggle("selected", pick.checked);
    updateSelection();
  });
  const open = document.createElement("button");
  open.type = "button"; open.className = "open";
  open.setAttribute("aria-label", `Open ${img.brief || img.cont_sign}`);
  const pic = new Image();
  pic.loading = "lazy"; pic.alt = img.brief; pic.src = thumb(img);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = `${img.brief || "(no brief)"} · ${tagsText(img.tags)}`;
  open.append(pic, meta);
  open.addEventListener("click", () => openDetail(img.id));
  li.append(pick, open);
  return li;
}

function updateSelection() {
  const n = state.selected.size;
  const button = $("#delete-selected");
  button.disabled = n === 0;
  button.textContent = n ? `Delete selected (${n})` : "Delete selected";
}

async function deleteSelected() {
  const ids = [...state.selected];
  if (!ids.length || !confirm(`Delete ${ids.length} image(s)? This cannot be undone.`)) return;
  const out = await api("POST", `${lib()}/images/delete`, { json: { images: ids.map(String) } });
  // After the reload: an emptied library's "upload some images" would replace it.
  await loadGallery(true);
  say(`Deleted ${out.deleted} image(s).`, true);
}

// --- one image ----------------------------------------------------------------------------

function openDetail(id) {
  const img = state.images.get(id);
  state.current = img;
  $("#detail-title").textContent = img.brief || "(no brief)";
  $("#detail-img").src = thumb(img);
  $("#detail-img").alt = img.brief;
  $("#detail-sign").textContent = img.cont_sign;
  $("#detail-size").textContent = `${img.width} × ${img.height}`;
  $("#detail-added").textContent = new Date(img.created_at * 1000).toLocaleString();
  $("#edit-brief").value = img.brief;
  $("#edit-tags").value = img.tags.join(",");
  $("#detail").showModal();
}

async function saveDetail(event) {
  event.preventDefault();
  const img = state.current;
  const updated = await api("PATCH", `${lib()}/images/${img.id}`, {
    json: { brief: $("#edit-brief").value, tags: $("#edit-tags").value.trim() } });
  state.images.set(updated.id, updated);
  $("#detail-title").textContent = updated.brief || "(no brief)";
  const li = document.querySelector(`#grid li[data-id="${updated.id}"]`);
  if (li) li.replaceWith(card(updated));
  say("Saved.", true);
}

async function deleteDetail() {
  const img = state.current;
  if (!confirm(`Delete “${img.brief || img.cont_sign}”? This cannot be undone.`)) return;
  await api("DELETE", `${lib()}/images/${img.id}`);
  $("#detail").close();
  await loadGallery(true);
  say("Deleted.", true);
}

async function findCopies() {
  const img = state.current;
  const r = await fetch(thumb(img));
  if (!r.ok) throw new Error("the thumbnail could not be read");
  const blob = await r.blob();
  $("#detail").close();
  show("search");
  await runSearch({ blob, name: `${img.brief || img.cont_sign} (thumbnail)` });
}

// --- upload -------------------------------------------------------------------------------

function uploadFiles(files) {
  const list = $("#upload-results");
  for (const file of files) {
    const li = document.createElement("li");
    const progress = document.createElement("progress");
    progress.max = 1; progress.value = 0;
    const status = document.createElement("span");
    status.textContent = " uploading…";
    li.append(`${file.name} `, progress, status);
    list.prepend(li);
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("brief", $("#upload-brief").value || file.name.slice(0, 200));
    if ($("#upload-tags").value.trim()) form.append("tags", $("#upload-tags").value.trim());
    form.append("on_duplicate", $("#upload-dup").value);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${lib()}/images`);
    xhr.setRequestHeader("Authorization", `Bearer ${state.token}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = e.loaded / e.total; };
    xhr.onload = () => {
      progress.value = 1;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) {
        li.className = "added"; status.textContent = ` added (id ${body.image.id})`;
      } else if (xhr.status === 200) {
        li.className = "added"; status.textContent = ` ${body.status}: already in the library (id ${body.image.id})`;
      } else if (xhr.status === 409 && body?.error?.cont_sign) {
        li.className = "error"; status.textContent = ` duplicate of ${body.error.cont_sign}`;
      } else {
        li.className = "error";
        status.textContent = body?.error
          ? ` error: ${body.error.message} (error ${body.error.code})`
          : ` error: HTTP ${xhr.status}`;
      }
    };
    xhr.onerror = () => { li.className = "error"; status.textContent = " error: the server cannot be reached"; };
    xhr.send(form);
  }
}

// --- search and compare ---------------------------------------------------------------------

function shot(src, region, label) {
  const fig = document.createElement("figure");
  const wrap = document.createElement("div");
  wrap.className = "shot";
  const pic = new Image();
  pic.src = src; pic.alt = label;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 1 1");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("aria-hidden", "true");
  if (region && region.length >= 3) {
    const poly = document.createElementNS("http://www.w3.org/2000/svg", "polygon");
    poly.setAttribute("points", region.map(([x, y]) => `${x},${y}`).join(" "));
    poly.setAttribute("class", "region");
    svg.append(poly);
  }
  wrap.append(pic, svg);
  const cap = document.createElement("figcaption");
  cap.textContent = label;
  fig.append(wrap, cap);
  return fig;
}

let queryView = null; // what to show for the query: an object URL or the URL searched

async function runSearch({ blob, url, name }) {
  const tags = $("#search-tags").value.trim();
  let out;
  if (blob) {
    const form = new FormData();
    form.append("image", blob, name || "query");
    form.append("rn", "50");
    if (tags) form.append("tags", tags);
    if (queryView?.startsWith("blob:")) URL.revokeObjectURL(queryView);
    queryView = URL.createObjectURL(blob);
    out = await api("POST", `${lib()}/search`, { form });
  } else {
    queryView = url;
    out = await api("POST", `${lib()}/search`, { json: { url, rn: 50, ...(tags ? { tags } : {}) } });
  }
  $("#pair").hidden = true;
  $("#search-summary").textContent = out.result_num
    ? `${out.result_num} match(es) for ${name || url} (threshold ${out.threshold}).`
    : `No match for ${name || url}.`;
  $("#search-results").replaceChildren(...out.results.map((r) => resultCard(r)));
}

function resultCard(r) {
  const li = document.createElement("li");
  const open = document.createElement("button");
  open.type = "button"; open.className = "open";
  open.setAttribute("aria-label", `Compare with ${r.image.brief || r.image.cont_sign}`);
  const pic = new Image();
  pic.loading = "lazy"; pic.src = thumb(r.image); pic.alt = r.image.brief;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.innerHTML = `<span class="score"></span> <span class="kind"></span><br><span class="brief"></span>`;
  meta.querySelector(".score").textContent = r.score.toFixed(3);
  meta.querySelector(".kind").textContent = r.kind.replaceAll("_", " ");
  meta.querySelector(".brief").textContent = r.image.brief || r.image.cont_sign;
  open.append(pic, meta);
  open.addEventListener("click", () => {
    $("#pair").replaceChildren(
      shot(queryView, r.query_region, "Query"),
      shot(thumb(r.image), r.result_region, `${r.image.brief || r.image.cont_sign} · ${r.kind.replaceAll("_", " ")} · ${r.score.toFixed(3)}`));
    $("#pair").hidden = false;
    $("#pair").scrollIntoView({ block: "nearest" });
  });
  li.append(open);
  return li;
}

async function compare(event) {
  event.preventDefault();
  const a = $("#compare-a").files[0], b = $("#compare-b").files[0];
  if (!a || !b) { say("Choose two images."); return; }
  const form = new FormData();
  form.append("a", a, a.name); form.append("b", b, b.name);
  const c = await api("POST", "/v1/compare", { form });
  $("#compare-verdict").textContent = c.same
    ? `Same picture: ${c.kind.replaceAll("_", " ")}, score ${c.score.toFixed(3)}.`
    : `Not the same picture (score ${c.score.toFixed(3)}, threshold ${c.threshold}).`;
  $("#compare-pair").replaceChildren(
    shot(URL.createObjectURL(a), c.a_region, `A · ${a.name}`),
    shot(URL.createObjectURL(b), c.b_region, `B · ${b.name}`));
  $("#compare-pair").hidden = false;
}

// --- duplicates -----------------------------------------------------------------------------

async function findDuplicates() {
  $("#dup-summary").textContent = "Looking for copies…";
  const d = await api("GET", `${lib()}/duplicates`);
  $("#dup-summary").textContent =
    `${d.clusters.length} cluster(s) of copies among ${d.images} images (${d.seconds} s).`;
  $("#clusters").replaceChildren(...d.clusters.map((c) => {
    const li = document.createElement("li");
    const ul = document.createElement("ul");
    ul.className = "grid";
    for (const m of c.members) {
      const item = card(m);
      if (m.id === c.canonical.id) item.classList.add("canonical");
      item.querySelector(".meta").textContent +=
        m.id === c.canonical.id ? " · canonical" : "";
      ul.append(item);
    }
    li.append(ul);
    return li;
  }));
}

// --- wiring ---------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => signOut("Signed out."));
  for (const b of document.querySelectorAll("[data-view]")) {
    b.addEventListener("click", () => {
      say("");
      show(b.dataset.view);
      if (b.dataset.view === "gallery") guard(() => loadGallery(true));
    });
  }
  $("#library").addEventListener("change", (e) => guard(async () => {
    state.library = e.target.value;
    sessionStorage.setItem("tongtu.library", state.library);
    await refreshThumbKey();
    show("gallery");
    await loadGallery(true);
  }));
  $("#filter").addEventListener("submit", (e) => { e.preventDefault(); guard(() => loadGallery(true)); });
  $("#more").addEventListener("click", () => guard(() => loadGallery(false)));
  $("#delete-selected").addEventListener("click", () => guard(deleteSelected));
  $("#edit").addEventListener("submit", (e) => guard(() => saveDetail(e)));
  $("#detail-delete").addEventListener("click", () => guard(deleteDetail));
  $("#detail-copies").addEventListener("click", () => guard(findCopies));

  const drop = $("#drop");
  drop.addEventListener("click", () => $("#files").click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("#files").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    uploadFiles([...e.dataTransfer.files]);
  });
  $("#files").addEventListener("change", (e) => { uploadFiles([...e.target.files]); e.target.value = ""; });
  $("#upload").addEventListener("submit", (e) => e.preventDefault());

  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    guard(async () => {
      const file = $("#search-file").files[0];
      const url = $("#search-url").value.trim();
      if (file) await runSearch({ blob: file, name: file.name });
      else if (url) await runSearch({ url });
      else say("Choose an image, give a URL, or paste an image.");
    });
  });
  document.addEventListener("paste", (e) => {
    if (!state.token) return;
    const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (!item) return;
    show("search");
    guard(() => runSearch({ blob: item.getAsFile(), name: "pasted image" }));
  });
  $("#compare").addEventListener("submit", (e) => guard(() => compare(e)));
  $("#find-duplicates").addEventListener("click", () => guard(findDuplicates));

  if (state.token) guard(start); else show("signin");
});
