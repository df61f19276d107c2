"use strict";
// Shared by every page: the JSON API client, errors, and how an item is drawn.

const IMAGE_EXT = /\.(jpe?g|png|gif|webp|avif|bmp|svg)$/i;

async function api(path, options = {}) {
  const init = { method: options.method || "GET", credentials: "same-origin", headers: {} };
  if (options.body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
  if (!response.ok) {
    throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  }
  return data;
}

function showError(error) {
  const box = document.getElementById("error");
  if (!error) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = `Error: ${error.message || error}`;
  box.hidden = false;
}

// http(s) URLs load from their server; relative paths come from the dataset's media root;
// anything else (e.g. "wordnet:n:02084071") is not an image.
function mediaUrl(uri) {
  if (!uri) return null;
  if (/^https?:\/\//i.test(uri)) return uri;
  if (/^[a-z][a-z0-9+.-]*:/i.test(uri) || uri.startsWith("/") || !IMAGE_EXT.test(uri)) return null;
  return "/media/" + uri.split("/").map(encodeURIComponent).join("/");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function conceptUrl(concept, tail = "") {
  return `/api/concepts/${encodeURIComponent(concept)}${tail}`;
}

const LABEL_NAMES = { positive: "Yes", negative: "No", skip: "Skip" };
const LABEL_KEYS = { positive: "y", negative: "n", skip: "s" };

// A card: image or text, and the three label buttons (plus "more like this" when asked).
function itemCard(item, { onLabel, onLike } = {}) {
  const src = mediaUrl(item.uri);
  const caption = item.text || item.id;
  const card = el("article", { class: "card", tabindex: "0", "data-id": item.id, "aria-label": caption });
  if (src) card.append(el("img", { src, alt: caption, loading: "lazy" }));
  card.append(el("p", { class: src ? "caption" : "text" }, caption));
  const meta = el("p", { class: "meta muted" }, item.id);
  if (item.score !== null && item.score !== undefined) meta.append(` · score ${Number(item.score).toFixed(3)}`);
  card.append(meta);
  const buttons = el("div", { class: "buttons", role: "group", "aria-label": `label ${caption}` });
  for (const label of ["positive", "negative", "skip"]) {
    buttons.append(el("button", {
      type: "button", class: `lab lab-${label}`, "data-label": label, "aria-pressed": "false",
      "aria-label": `${LABEL_NAMES[label]}: ${label} (${LABEL_KEYS[label]})`,
      onclick: () => onLabel && onLabel(item, label, card),
    }, `${LABEL_NAMES[label]} (${LABEL_KEYS[label]})`));
  }
  if (onLike) {
    buttons.append(el("button", { type: "button", class: "like", "aria-label": `more like ${caption}`, onclick: () => onLike(item) }, "More like this"));
  }
  buttons.append(el("button", { type: "button", class: "retry", hidden: true, "aria-label": `retry the label of ${caption} (r)`,
    onclick: () => card.dataset.tried && onLabel && onLabel(item, card.dataset.tried, card) }, "Retry (r)"));
  card.append(buttons);
  card.append(el("p", { class: "status", "aria-live": "polite" }));
  if (item.label) markCard(card, item.label, "saved");  // search answers say which items are labeled already
  return card;
}

// A card's label state, shown in words as well as colour: "saved" (acknowledged by the server),
// "pending" (sent, no answer yet) or "failed" (not saved: the card keeps the label it had and
// shows the one that failed, with a Retry button; data-label stays the saved one).
function markCard(card, label, state = "saved") {
  const failed = state === "failed";
  const shown = failed ? (card.dataset.label || null) : label;
  card.dataset.label = shown || "";
  card.dataset.state = failed ? "failed" : (shown ? state : "");
  card.dataset.tried = failed ? label : "";
  for (const button of card.querySelectorAll("button.lab")) {
    button.setAttribute("aria-pressed", String(button.dataset.label === shown));
  }
  const status = card.querySelector(".status");
  if (status) {
    status.textContent = failed ? `Not saved: ${label}. Retry (r)`
      : !label ? "" : state === "pending" ? `${label}: saving…` : `Labeled ${label}`;
  }
  const retry = card.querySelector("button.retry");
  if (retry) retry.hidden = !failed;
}
