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
  card.append(buttons);
  return card;
}

function markCard(card, label, state = "saved") {
  card.dataset.label = label || "";
  card.dataset.state = label ? state : "";
  for (const button of card.querySelectorAll("button.lab")) {
    button.setAttribute("aria-pressed", String(button.dataset.label === label));
  }
}
