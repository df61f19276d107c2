"use strict";
// Home: the concept list and the "new concept from a text query" form, both over /api/concepts.

async function loadConcepts() {
  const body = document.querySelector("#concepts tbody");
  try {
    const concepts = await api("/api/concepts");
    body.replaceChildren();
    if (!concepts.length) {
      body.append(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No concepts yet: create one below.")));
    }
    for (const c of concepts) {
      body.append(el("tr", {},
        el("td", {}, el("a", { href: `/c/${encodeURIComponent(c.name)}` }, c.name)),
        el("td", {}, String(c.labels ?? 0)), el("td", {}, String(c.positives ?? 0)),
        el("td", {}, c.strategy || ""), el("td", {}, c.pool || "")));
    }
  } catch (error) { showError(error); }
}

document.getElementById("new-concept").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: form.get("name").trim() };
  for (const key of ["query", "strategy", "pool"]) {
    const value = (form.get(key) || "").trim();
    if (value) body[key] = value;
  }
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const concept = await api("/api/concepts", { method: "POST", body });
    window.location.href = `/c/${encodeURIComponent(concept.name)}`;
  } catch (error) { showError(error); button.disabled = false; }
});

loadConcepts();
