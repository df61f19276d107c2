"use strict";
// The label page: the current batch as a grid, labeled with clicks or keys; every label is
// POSTed (and committed) as soon as it is given. The server tells the model a batch as one round
// once every item is decided: the page then fetches the next batch by itself. Enter asks for a
// new batch early (the decided items of this one are then told as its round). The progress panel
// shows the recall estimate; "Audit" (or a) draws random unlabeled items, shown in the Audit tab
// and labeled with the same keys and the same label POSTs, which turn the estimate into the audit's.

const app = document.getElementById("app");
const concept = app.dataset.concept;
const labelerInput = document.getElementById("labeler");
labelerInput.value = localStorage.getItem("seals.labeler") || "me";
labelerInput.addEventListener("change", () => {
  localStorage.setItem("seals.labeler", labelerInput.value.trim() || "me");
  loadBatch();
});
const labeler = () => labelerInput.value.trim() || "me";

// Label POSTs go one after another, so the server records them in the order they were given
// (undo takes back the latest one).
const state = { batch: null, pending: new Set(), view: "batch", statsSeq: 0, chain: Promise.resolve(), loading: false, waitFrom: null,
  statsBusy: false, statsAgain: false };

// The two waits a labeler feels, recorded as User Timing measures (performance.getEntriesByName)
// for bench/labeling_latency.py --browser and the browser tests: "seals:label-ack" from a label's
// key press or click to its acknowledgement, "seals:next-batch" from the label that decides a
// batch (or Enter) to the next batch drawn on the screen (the animation frame after it is in place).
function measureFrom(name, start) {
  requestAnimationFrame(() => performance.measure(name, { start, end: performance.now() }));
}
const grids = { batch: "grid", search: "search-grid", top: "top-grid", audit: "audit-grid" };
const auditButton = document.getElementById("audit-btn");

for (const [kind, id] of [["csv", "export-csv"], ["jsonl", "export-jsonl"], ["parquet", "export-parquet"]]) {
  document.getElementById(id).href = conceptUrl(concept, `/export?format=${kind}`);
}
document.getElementById("export-model").href = conceptUrl(concept, "/model");

function activeGrid() { return document.getElementById(grids[state.view]); }
function cards(grid = activeGrid()) { return [...grid.querySelectorAll(".card")]; }

function batchDecided() {
  const all = cards(document.getElementById("grid"));
  return all.length > 0 && all.every((card) => card.dataset.state === "saved") && state.pending.size === 0;
}

function updateSubmit() {
  const all = cards(document.getElementById("grid"));
  const done = all.filter((card) => card.dataset.state === "saved").length;
  document.getElementById("submit-btn").disabled = state.loading || !state.batch || state.batch.batch === null;
  if (state.batch && all.length) {
    document.getElementById("batch-status").textContent =
      `Round ${state.batch.round + 1} of this concept: ${done} of ${all.length} decided` +
      (done === all.length ? " — fetching the next batch" : " — the next batch comes once all are decided; Enter asks for it now");
  }
}

async function sendLabel(item, label, card, batch) {
  const previous = card.dataset.label || null;
  const given = performance.now();
  markCard(card, label, "pending");
  const body = { labeler: labeler(), labels: [{ id: item.id, label }], batch };
  const request = state.chain.catch(() => null).then(() => api(conceptUrl(concept, "/labels"), { method: "POST", body }));
  state.chain = request;
  state.pending.add(request);
  updateSubmit();
  try {
    await request;
    markCard(card, label, "saved");
    measureFrom("seals:label-ack", given);
    for (const other of document.querySelectorAll(".card")) {  // the same item in another grid (a batch item found by search)
      if (other !== card && other.dataset.id === item.id) markCard(other, label, "saved");
    }
    showError(null);
  } catch (error) {
    // Not saved: the card says so (and keeps its saved label, if any), offers Retry, and takes
    // the focus back, so the labeler does not go on as if it were saved.
    card.dataset.label = previous || "";
    markCard(card, label, "failed");
    showError(new Error(`not saved (${error.message || error}): “${item.text || item.id}” — press r or Retry on the card`));
    if (card.closest(".grid") === activeGrid()) card.focus();
  } finally {
    state.pending.delete(request);
    updateSubmit();
    // a batch completes whichever grid its last item was labeled in (search, audit): the server has
    // closed the round, and the next batch comes by itself (with the history and then the counts,
    // so no other request stands in its way); otherwise the counts and the chart follow every
    // acknowledged label, not only whole batches
    if (state.batch && state.batch.batch !== null && batchDecided()) advance(false);
    else { loadHistory(); loadStats(); }
  }
}

function focusNextUndecided(card) {
  const all = cards(card.parentElement);
  const start = all.indexOf(card);
  const next = all.slice(start + 1).concat(all.slice(0, start)).find((c) => !c.dataset.label);
  (next || card).focus();
}

function onLabel(batchNumber) {
  return (item, label, card) => {
    const wasOpen = cards(card.parentElement).some((c) => !c.dataset.label);
    sendLabel(item, label, card, batchNumber);
    if (wasOpen && cards(card.parentElement).every((c) => c.dataset.label)) state.waitFrom = performance.now();
    focusNextUndecided(card);
  };
}

function onLike(item) {
  selectView("search");
  runSearch({ like: item.id }, `Items like ${item.text || item.id}`);
}

function fillGrid(grid, items, handler, known = {}) {
  grid.replaceChildren();
  grid.classList.toggle("images", items.some((item) => mediaUrl(item.uri)));  // thumbnails sized for judging
  for (const item of items) {
    const card = itemCard(item, { onLabel: handler, onLike });
    if (known[item.id]) markCard(card, known[item.id], "saved");
    grid.append(card);
  }
}

async function loadBatch(fresh = false) {
  try {
    // A POST: handing out a batch leases items and may close a round (a GET never does).
    const body = fresh ? { labeler: labeler(), new: true } : { labeler: labeler() };
    const [batch, history] = await Promise.all([
      api(conceptUrl(concept, "/batch"), { method: "POST", body }),
      api(conceptUrl(concept, "/labels?n=15")),  // the recent-labels list (batch items come undecided)
    ]);
    state.batch = batch;
    const known = Object.fromEntries(history.labels.map((row) => [row.id, row.label]));
    const grid = document.getElementById("grid");
    fillGrid(grid, batch.items, onLabel(batch.batch), known);
    if (state.waitFrom !== null) { measureFrom("seals:next-batch", state.waitFrom); state.waitFrom = null; }
    document.getElementById("mode").textContent = `${batch.mode} mode`;
    document.getElementById("empty").hidden = batch.items.length > 0;
    if (!batch.items.length) document.getElementById("batch-status").textContent = "";
    updateSubmit();
    renderHistory(history);
    const first = cards(grid).find((c) => !c.dataset.label) || cards(grid)[0];
    if (first && state.view === "batch") first.focus();
  } catch (error) { showError(error); }
}

// The next batch: by itself once every item is decided (fresh = false: the server has closed the
// round), or early on Enter (fresh = true: the server closes the decided part as the round).
async function advance(fresh) {
  if (state.loading) return;
  state.loading = true;
  updateSubmit();
  try {
    await Promise.allSettled([...state.pending]);
    await state.chain.catch(() => null);
    await loadBatch(fresh && !batchDecided());
  } finally {
    state.loading = false;
    updateSubmit();
  }
  loadStats();
}

function nextBatch() {
  if (!state.loading) state.waitFrom = performance.now();
  advance(true);
}

// Undo takes back the labeler's latest label wherever it was given; the page says which one, in
// words, and when the item is no longer shown (its batch has closed) says that too.
async function undo() {
  try {
    await state.chain.catch(() => null);
    const { undone } = await api(conceptUrl(concept, "/undo"), { method: "POST", body: { labeler: labeler() } });
    if (!undone) { notice("Nothing to undo."); return; }
    let shown = false;
    for (const card of document.querySelectorAll(".card")) {
      if (card.dataset.id === undone.id) { markCard(card, null); shown = true; if (!card.closest("[hidden]")) card.focus(); }
    }
    const what = `“${undone.text || undone.id}”`;
    notice(shown ? `Undone: ${undone.label} on ${what}; label it again.`
      : `Undone: ${undone.label} on ${what} (${undone.id}), from an earlier batch no longer on this page: ` +
        "it is unlabeled again and may be offered again later.");
    updateSubmit();
    if (cards(document.getElementById("audit-grid")).length) updateAuditStatus();
    loadHistory();
    loadStats();
  } catch (error) { showError(error); }
}

function notice(text) { document.getElementById("notice").textContent = text; }

function renderHistory(data) {
  const list = document.getElementById("history");
  list.replaceChildren();
  for (const row of data.labels.slice(0, 15)) {
    const text = row.text || row.id;
    list.append(el("li", { class: `h-${row.label}`, title: `${row.label}: ${text}` }, el("span", { class: "hl" }, row.label), " ", text));
  }
  if (!data.labels.length) list.append(el("li", { class: "muted" }, "No labels yet."));
}

async function loadHistory() {
  try { renderHistory(await api(conceptUrl(concept, "/labels?n=15"))); } catch (error) { showError(error); }
}

function drawChart(curve) {
  const svg = document.getElementById("chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const [w, h, pad] = [240, 120, 22];
  const maxX = Math.max(1, ...curve.map((p) => p[0]));
  const maxY = Math.max(1, ...curve.map((p) => p[1]));
  const line = (x1, y1, x2, y2) => {
    const node = document.createElementNS(ns, "line");
    Object.entries({ x1, y1, x2, y2, class: "axis" }).forEach(([k, v]) => node.setAttribute(k, v));
    svg.append(node);
  };
  const text = (x, y, value, anchor) => {
    const node = document.createElementNS(ns, "text");
    Object.entries({ x, y, "text-anchor": anchor, class: "tick" }).forEach(([k, v]) => node.setAttribute(k, v));
    node.textContent = value;
    svg.append(node);
  };
  line(pad, h - pad, w - 4, h - pad);
  line(pad, 4, pad, h - pad);
  text(pad - 3, 12, String(maxY), "end");
  text(w - 4, h - 6, String(maxX), "end");
  text(pad, h - 6, "0", "middle");
  if (!curve.length) return;
  const points = [[0, 0], ...curve].map(([x, y]) =>
    `${(pad + (x / maxX) * (w - 4 - pad)).toFixed(1)},${(h - pad - (y / maxY) * (h - pad - 4)).toFixed(1)}`);
  const poly = document.createElementNS(ns, "polyline");
  poly.setAttribute("points", points.join(" "));
  poly.setAttribute("class", "curve");
  svg.append(poly);
}

async function loadStats() {
  // One /stats in flight at a time: labels given meanwhile ask for one more when it is back, so
  // quick labeling does not queue a /stats per label in front of the next batch.
  if (state.statsBusy) { state.statsAgain = true; return; }
  state.statsBusy = true;
  const seq = ++state.statsSeq;  // a slower, older answer must not overwrite a newer one
  try {
    const s = await api(conceptUrl(concept, "/stats"));
    if (seq !== state.statsSeq) return;
    const set = (id, value) => { document.getElementById(id).textContent = value; };
    set("s-labels", s.labels);
    set("s-positives", s.positives);
    set("s-negatives", s.negatives ?? "–");
    // search mode has no candidate pool yet (batches are the query's nearest items)
    set("s-pool", s.mode === "search" && !s.pool_size ? "– (search mode)" : (s.pool_size ?? "–"));
    const hasTest = s.test_items > 0;  // no test split: no AP line at all
    document.getElementById("s-ap").hidden = document.getElementById("s-ap-h").hidden = !hasTest;
    set("s-ap", s.ap_test === null || s.ap_test === undefined ? "– (no labeled test items)" : s.ap_test.toFixed(3));
    showTextSearch(s.text_search);
    drawChart(s.curve || []);
    renderEstimate(s.estimate || null, s.rounds > 0, s.estimate_updating);
  } catch (error) { showError(error); } finally {
    state.statsBusy = false;
    if (state.statsAgain) { state.statsAgain = false; loadStats(); }
  }
}

// The text model loads in the background at server start: until it is ready, text search says
// so (labeling, "More like this" and random items work meanwhile), and the page asks again.
function showTextSearch(textState) {
  const loading = textState === "loading";
  for (const id of ["search-q", "seed-q"]) {
    const input = document.getElementById(id);
    input.placeholder = loading ? "text model loading…" : (textState === "unavailable" ? "no text search for this dataset" : "text query");
  }
  for (const form of ["search-form", "seed-form"]) {
    document.querySelector(`#${form} button[type=submit]`).disabled = loading;
  }
  document.getElementById("text-state").textContent = loading
    ? "The text model is still loading: text search works in a moment (label, “More like this” and random items meanwhile)."
    : "";
  document.getElementById("app").dataset.textSearch = textState || "";
  if (loading && !state.textPoll) {
    state.textPoll = setTimeout(() => { state.textPoll = null; loadStats(); }, 1000);
  }
}

const pct = (value) => `${(100 * value).toFixed(0)}%`;

// "with 95% confidence at least X% of the positives are found" (an audit's bound, which holds at
// every look) or the model's rough "≈ X%" with no guarantee; a bar for the interval, what the
// bound promises, the flag for parts the loop had not reached, the audit and a certificate's price.
function renderEstimate(e, canAudit, updating = false) {
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  const bar = document.getElementById("est-bar");
  auditButton.disabled = !canAudit;  // an audit needs a learned round, not an estimate
  document.getElementById("estimate").dataset.method = e ? e.method : "";
  const flag = document.getElementById("est-unreached");
  flag.hidden = !(e && e.unreached > 0);
  if (e && e.unreached > 0) {
    flag.textContent = `This concept has parts the loop had not reached: ${e.unreached} audit positive` +
      `${e.unreached === 1 ? " lay" : "s lay"} outside its candidate pool. Their neighbourhoods are open now.`;
  }
  set("est-certificate", e && e.certificate ? `Certificate: ${e.certificate}.` : "");
  if (!e) {
    set("est-text", updating ? "Estimating: the model is scoring the pool (large pools take a while)."
      : "Estimated once the model has learned a positive and a negative, or after an audit.");
    set("est-method", "");
    set("est-audit", "");
    bar.hidden = true;
    document.getElementById("audit-pending-btn").hidden = true;
    return;
  }
  set("est-text", e.text);
  set("est-method", e.method === "audit"
    ? `audit estimate — from ${e.audit_labels} audit label${e.audit_labels === 1 ? "" : "s"}: the bound ${e.guarantee || "holds at every look"}`
    : "model estimate — no guarantee: the model's own probabilities, biased by active selection; an audit gives a bound that holds");
  const lo = e.recall_lo ?? 0, hi = e.recall_hi ?? 1, point = e.recall ?? lo;
  bar.hidden = false;
  bar.classList.toggle("rough", e.method !== "audit");
  bar.title = `${pct(lo)}–${pct(hi)} (${pct(e.confidence ?? 0.95)})`;
  const range = document.getElementById("est-range");
  range.style.left = pct(lo);
  range.style.width = pct(Math.max(0.01, hi - lo));
  document.getElementById("est-point").style.left = pct(point);
  const pending = e.audit_pending || 0;
  state.auditPending = pending;
  set("est-audit", `${e.audit_labels} audit label${e.audit_labels === 1 ? "" : "s"}, ${pending} pending`);
  const pendingButton = document.getElementById("audit-pending-btn");
  pendingButton.hidden = pending === 0 || (state.view === "audit" && cards(document.getElementById("audit-grid")).length > 0);
  pendingButton.textContent = `Show the ${pending} pending audit item${pending === 1 ? "" : "s"}`;
}

function updateAuditStatus() {
  const all = cards(document.getElementById("audit-grid"));
  const done = all.filter((card) => card.dataset.state === "saved" && card.dataset.label !== "skip").length;
  document.getElementById("audit-status").textContent = all.length
    ? `${done} of ${all.length} audit items labeled` + (done === all.length ? " — the estimate now uses them" : "")
    : "No audit items to label.";
}

// Draw a new audit (pending = false) or show the items of earlier ones not labeled yet.
async function loadAudit(pending = false) {
  if (!pending && auditButton.disabled) return;
  if (!pending && state.auditPending > 0) {  // a drawn audit is finished first, never left pending unseen
    notice(`${state.auditPending} audit item${state.auditPending === 1 ? "" : "s"} drawn earlier still to label: shown first.`);
    pending = true;
  }
  const draw = { method: "POST", body: { labeler: labeler(), n: Number(auditButton.dataset.n) } };
  try {
    const { items } = await api(conceptUrl(concept, "/audit"), pending ? {} : draw);
    document.getElementById("tab-audit").hidden = false;
    selectView("audit");
    fillGrid(document.getElementById("audit-grid"), items, (item, label, card) => {
      sendLabel(item, label, card, null).then(() => { updateAuditStatus(); loadStats(); });
      focusNextUndecided(card);
    });
    updateAuditStatus();
    const first = cards(document.getElementById("audit-grid"))[0];
    if (first) first.focus();
    loadStats();
  } catch (error) { showError(error); }
}

async function runSearch(params, title) {
  const status = document.getElementById("search-status");
  status.textContent = "Searching…";
  try {
    const { items } = params
      ? await api(conceptUrl(concept, `/search?${new URLSearchParams({ ...params, n: "24" })}`))
      : await api(conceptUrl(concept, "/random?n=12"));
    fillGrid(document.getElementById("search-grid"), items, (item, label, card) => {
      sendLabel(item, label, card, null);
      focusNextUndecided(card);
    });
    const labeled = items.filter((item) => item.label).length;
    status.textContent = items.length
      ? `${title}: ${items.length} items` + (labeled ? `, ${labeled} labeled already (marked)` : "")
      : `${title}: nothing found.`;
    const first = cards(document.getElementById("search-grid"))[0];
    if (first) first.focus();
  } catch (error) { status.textContent = ""; showError(error); }
}

async function loadTop() {
  try {
    const { items } = await api(conceptUrl(concept, "/top?n=24"));
    fillGrid(document.getElementById("top-grid"), items, (item, label, card) => {
      sendLabel(item, label, card, null);
      focusNextUndecided(card);
    });
    document.getElementById("top-status").textContent = items.length
      ? "Unlabeled pool items the current model scores highest (labeled items are left out). Label them to correct it."
      : "Nothing yet: the model ranks items once it has learned a round with a positive and a negative.";
  } catch (error) { showError(error); }
}

function selectView(view) {
  state.view = view;
  for (const name of Object.keys(grids)) {
    document.getElementById(`tab-${name}`).setAttribute("aria-selected", String(name === view));
    document.getElementById(`view-${name}`).hidden = name !== view;
  }
  if (view === "top") loadTop();
}

for (const name of Object.keys(grids)) {
  document.getElementById(`tab-${name}`).addEventListener("click", () => selectView(name));
}
document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("search-q").value.trim();
  if (q) runSearch({ q }, `Results for “${q}”`);
  else document.getElementById("search-status").textContent = "Type some words to search for, e.g. what the concept looks like.";
});
document.getElementById("seed-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("seed-q").value.trim();
  if (!q) { document.getElementById("batch-status").textContent = "Type some words to search for first."; return; }
  document.getElementById("search-q").value = q;
  selectView("search");
  runSearch({ q }, `Results for “${q}”`);
});
document.getElementById("random-btn").addEventListener("click", () => {
  selectView("search");
  runSearch(null, "Random items");
});
document.getElementById("submit-btn").addEventListener("click", nextBatch);
document.getElementById("undo-btn").addEventListener("click", undo);
auditButton.addEventListener("click", () => loadAudit(false));
document.getElementById("audit-pending-btn").addEventListener("click", () => loadAudit(true));
const help = document.getElementById("help");
document.getElementById("help-btn").addEventListener("click", () => help.showModal());

const KEY_LABELS = { y: "positive", n: "negative", s: "skip" };
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || help.open) return;
  if (event.target.closest("input, textarea, select")) return;
  const key = event.key;
  if (key === "?") { event.preventDefault(); help.showModal(); return; }
  if (key === "u") { event.preventDefault(); undo(); return; }
  if (key === "a") { event.preventDefault(); loadAudit(false); return; }
  if (key === "r") {
    const failed = document.activeElement && document.activeElement.closest(".card[data-state=failed]");
    if (failed) { event.preventDefault(); failed.querySelector("button.retry").click(); }
    return;
  }
  const all = cards();
  const current = document.activeElement && document.activeElement.closest(".card");
  if (KEY_LABELS[key]) {
    const card = current || all[0];
    if (card) { event.preventDefault(); card.querySelector(`button[data-label=${KEY_LABELS[key]}]`).click(); }
    return;
  }
  if (key === "Enter" && state.view === "batch" && !document.activeElement.closest("button")) {
    event.preventDefault();
    nextBatch();
    return;
  }
  const moves = { ArrowLeft: -1, ArrowRight: 1 };
  if (key in moves || key === "ArrowUp" || key === "ArrowDown") {
    if (!all.length) return;
    event.preventDefault();
    const index = Math.max(0, all.indexOf(current));
    let target = index + (moves[key] || 0);
    if (key === "ArrowUp" || key === "ArrowDown") {
      const top = all[index].offsetTop;
      const perRow = Math.max(1, all.filter((c) => c.offsetTop === top).length);
      target = index + (key === "ArrowDown" ? perRow : -perRow);
    }
    all[Math.min(all.length - 1, Math.max(0, target))].focus();
  }
});

loadBatch();
loadStats();
