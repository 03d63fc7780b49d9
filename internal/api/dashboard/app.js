"use strict";
// escalator dashboard: reads the API with the token kept in this tab.
const tokenKey = "escalator-token";

function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + sessionStorage.getItem(tokenKey) }, opts.headers || {});
  return fetch(path, Object.assign({}, opts, { headers })).then(async (r) => {
    if (!r.ok) {
      const body = await r.json().catch(() => ({ error: r.statusText }));
      throw Object.assign(new Error(body.error), { status: r.status });
    }
    return r.json();
  });
}

function text(tag, s, cls) {
  const e = document.createElement(tag);
  e.textContent = s;
  if (cls) e.className = cls;
  return e;
}

function dur(ns) {
  const s = Math.round(ns / 1e9);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s";
  return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
}

function render(st) {
  const rep = st.report;
  document.getElementById("run").textContent = rep.run_id + " · " + rep.status;
  const sum = document.getElementById("summary");
  sum.replaceChildren(text("p", rep.totals.hosts + " hosts, wave " + rep.totals.current_wave + " of " + rep.totals.waves + " · " + dur(rep.elapsed_ns) + " elapsed of " + dur(rep.expected_ns) + " expected"));
  const body = document.querySelector("#hosts tbody");
  body.replaceChildren(...rep.hosts.map((h) => {
    const tr = document.createElement("tr");
    tr.dataset.status = h.status;
    const versions = (h.versions || []).map((v) => v.component + "=" + v.now + (v.now === v.to ? "" : " (→" + v.to + ")")).join(" ");
    for (const v of [h.name, h.zone || "-", h.wave || "-", h.status, versions, dur(h.elapsed_ns) + " / " + dur(h.expected_ns), h.error || h.step || ""]) {
      tr.appendChild(text("td", String(v)));
    }
    return tr;
  }));
}

async function refresh() {
  try {
    render(await api("/v1/runs/current/status"));
    document.getElementById("login").hidden = true;
    document.getElementById("main").hidden = false;
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      document.getElementById("login").hidden = false;
      document.getElementById("login-error").textContent = e.message;
    }
  }
}

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(tokenKey, document.getElementById("token").value.trim());
  refresh();
});
if (!sessionStorage.getItem(tokenKey)) document.getElementById("login").hidden = false;
refresh();
setInterval(refresh, 2000);
