"use strict";
// escalator dashboard. Plain JavaScript, no framework and no build step:
// it is embedded in the binary and served under a Content-Security-Policy
// that allows no inline script or style and nothing from another origin.
// It calls the API like any client, with the token kept in this tab's
// sessionStorage, and follows the run's journal through the event stream
// (read with fetch(), because EventSource cannot send an Authorization
// header), falling back to polling.
(function () {
  const tokenKey = "escalator-token";
  const statusPollMs = 5000; // the status table's refresh while nothing happens
  const eventPollMs = 2000; // the journal's refresh when the stream cannot be used
  const streamSilenceMs = 40000; // the server sends a comment every 15 s
  const maxAlerts = 500; // kept in memory; the newest 100 are shown
  const shownAlerts = 100;
  const hostStates = ["pending", "in_progress", "upgraded", "failed", "rolled_back", "in_maintenance"];
  const stateLabels = { pending: "pending", in_progress: "in progress", upgraded: "upgraded", failed: "failed", rolled_back: "rolled back", in_maintenance: "in maintenance" };
  const finalKinds = { run_halted: "halted", run_failed: "failed", run_finished: "finished", run_rolled_back: "rolled_back", run_aborted: "aborted" };

  const $ = (id) => document.getElementById(id);

  // ---- formatting ----------------------------------------------------

  // dur formats milliseconds: 4.2s, 42s, 3m05s, 2h03m.
  function dur(ms) {
    if (ms == null || !isFinite(ms)) return "–";
    if (ms < 0) ms = 0;
    if (ms < 10000) return (ms / 1000).toFixed(1) + "s";
    const s = Math.round(ms / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }

  function clock(t) {
    if (t == null || !isFinite(t)) return "–";
    return new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  // node makes an element: node("td", {cls, text, data: {...}, attrs: {...}}, children).
  function node(tag, o, children) {
    const e = document.createElement(tag);
    o = o || {};
    if (o.cls) e.className = o.cls;
    if (o.text != null) e.textContent = String(o.text);
    for (const [k, v] of Object.entries(o.data || {})) e.dataset[k] = v;
    for (const [k, v] of Object.entries(o.attrs || {})) e.setAttribute(k, v);
    for (const c of children || []) e.appendChild(c);
    return e;
  }

  // ---- Server-Sent Events ---------------------------------------------

  // SSEParser turns the text of an event stream, in chunks cut anywhere,
  // into events {id, event, data}, following the HTML standard's rules:
  // lines end with CRLF, LF or CR; a blank line dispatches; ":" starts a
  // comment; data lines are joined with "\n"; the last id persists.
  class SSEParser {
    constructor() {
      this.buf = "";
      this.data = [];
      this.event = "";
      this.lastId = "";
    }
    push(text) {
      this.buf += text;
      const out = [];
      let pos = 0;
      for (;;) {
        let i = pos;
        while (i < this.buf.length && this.buf[i] !== "\n" && this.buf[i] !== "\r") i++;
        if (i >= this.buf.length) break;
        // A CR at the very end may be the first half of a CRLF: wait.
        if (this.buf[i] === "\r" && i === this.buf.length - 1) break;
        const line = this.buf.slice(pos, i);
        pos = i + (this.buf[i] === "\r" && this.buf[i + 1] === "\n" ? 2 : 1);
        this.line(line, out);
      }
      this.buf = this.buf.slice(pos);
      return out;
    }
    line(line, out) {
      if (line === "") {
        if (this.data.length) out.push({ id: this.lastId, event: this.event || "message", data: this.data.join("\n") });
        this.data = [];
        this.event = "";
        return;
      }
      if (line[0] === ":") return;
      const c = line.indexOf(":");
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? "" : line.slice(c + 1);
      if (value[0] === " ") value = value.slice(1);
      if (field === "data") this.data.push(value);
      else if (field === "event") this.event = value;
      else if (field === "id" && !value.includes("\0")) this.lastId = value;
    }
  }

  // ---- API -------------------------------------------------------------

  class APIError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function token() {
    return sessionStorage.getItem(tokenKey) || "";
  }

  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
    let r;
    try {
      r = await fetch(path, Object.assign({ cache: "no-store" }, opts, { headers }));
    } catch (e) {
      throw new APIError(0, "the server does not answer (" + e.message + ")");
    }
    if (!r.ok) {
      let msg = r.statusText || "HTTP " + r.status;
      try {
        const body = await r.json();
        if (body && body.error) msg = body.error;
      } catch (e) {
        // not JSON: keep the status text
      }
      throw new APIError(r.status, msg);
    }
    return r.status === 204 ? null : r.json();
  }

  // ---- the run, folded from its journal ----------------------------------

  function waveOfStep(id) {
    const m = /^w(\d+)\//.exec(id || "");
    return m ? Number(m[1]) : 0;
  }

  function newModel(runId) {
    return {
      runId,
      lastSeq: 0,
      start: null,
      end: null,
      lastTime: null,
      status: "",
      steps: new Map(), // step id → {start, end, host, wave}
      waveAct: new Map(), // wave → span
      hostAct: new Map(), // host → span
      hostWave: new Map(),
      hostStatus: new Map(),
      alerts: [],
      alertVersion: 0,
      canaryWaiting: 0,
    };
  }

  function span(map, key) {
    let s = map.get(key);
    if (!s) {
      s = { start: null, end: null, open: 0, failed: false };
      map.set(key, s);
    }
    return s;
  }

  function addAlert(m, a) {
    const last = m.alerts[m.alerts.length - 1];
    if (last && last.level === a.level && last.code === a.code && last.host === a.host && last.message === a.message) {
      last.count++;
      last.time = a.time;
    } else {
      a.count = 1;
      m.alerts.push(a);
      if (m.alerts.length > maxAlerts) m.alerts.splice(0, m.alerts.length - maxAlerts);
    }
    m.alertVersion++;
  }

  // ingest folds one journal event into the model; it reports whether the
  // event was new (a resumed stream may repeat nothing, but a poll after a
  // stream might).
  function ingest(m, e) {
    if (!(e.seq > m.lastSeq)) return false;
    m.lastSeq = e.seq;
    const t = Date.parse(e.time);
    m.lastTime = t;
    const where = e.host || (waveOfStep(e.step_id) ? "wave " + waveOfStep(e.step_id) : "");
    switch (e.kind) {
      case "run_started":
        m.start = t;
        m.status = "running";
        m.end = null;
        break;
      case "run_resumed":
        m.status = "running";
        m.end = null;
        addAlert(m, { time: t, level: "info", code: "", host: "", message: e.action === "rollback" ? "run resumed to roll it back" : "run resumed" });
        break;
      case "step_started": {
        let wave = waveOfStep(e.step_id);
        if (wave && e.host) m.hostWave.set(e.host, wave);
        if (!wave && e.host) wave = m.hostWave.get(e.host) || 0;
        const prev = m.steps.get(e.step_id);
        if (prev && prev.end == null) break; // started twice (a resumed run): still one open step
        m.steps.set(e.step_id, { start: t, end: null, host: e.host || "", wave });
        for (const s of [wave ? span(m.waveAct, wave) : null, e.host ? span(m.hostAct, e.host) : null]) {
          if (!s) continue;
          if (s.start == null || t < s.start) s.start = t;
          s.open++;
        }
        break;
      }
      case "step_finished": {
        let st = m.steps.get(e.step_id);
        if (!st) {
          st = { start: t, end: null, host: e.host || "", wave: waveOfStep(e.step_id) || m.hostWave.get(e.host) || 0 };
          m.steps.set(e.step_id, st);
        }
        const wasOpen = st.end == null;
        st.end = t;
        for (const s of [st.wave ? span(m.waveAct, st.wave) : null, st.host ? span(m.hostAct, st.host) : null]) {
          if (!s) continue;
          if (s.start == null) s.start = st.start;
          if (s.end == null || t > s.end) s.end = t;
          if (wasOpen && s.open > 0) s.open--;
          if (e.status === "failed") s.failed = true;
        }
        if (/^w\d+\/pause$/.test(e.step_id)) m.canaryWaiting = 0;
        if (e.status === "failed") {
          addAlert(m, { time: t, level: "error", code: e.code || "E_STEP_FAILED", host: where, message: "step " + e.step_id + " failed: " + (e.error || "") });
        }
        break;
      }
      case "host_status":
        m.hostStatus.set(e.host, e.status);
        if (e.status === "failed" || e.status === "in_maintenance") {
          addAlert(m, { time: t, level: "error", code: e.code || "", host: e.host, message: "host " + stateLabels[e.status] + (e.error ? ": " + e.error : "") });
        } else if (e.status === "rolled_back") {
          addAlert(m, { time: t, level: "warn", code: e.code || "", host: e.host, message: "host rolled back to its previous versions" });
        }
        break;
      case "alert":
        addAlert(m, { time: t, level: "warn", code: e.code || "", host: where, message: e.message || "" });
        break;
      case "note": {
        const c = /paused after canary wave (\d+)/.exec(e.message || "");
        if (c || e.code === "W_CANARY_PAUSED") {
          m.canaryWaiting = Number((e.data && e.data.wave) || (c && c[1]) || 0);
        }
        addAlert(m, { time: t, level: "info", code: e.code || "", host: where, message: e.message || "" });
        break;
      }
      default:
        if (finalKinds[e.kind]) {
          m.status = finalKinds[e.kind];
          m.end = t;
          const ok = e.kind === "run_finished" || e.kind === "run_rolled_back";
          const level = ok ? "info" : e.code === "W_CANARY_PAUSED" ? "warn" : "error";
          addAlert(m, { time: t, level, code: e.code || "", host: "", message: "run " + stateLabelOfRun(m.status) + (e.error || e.message ? ": " + (e.error || e.message) : "") });
          if (m.status !== "running") m.canaryWaiting = 0;
        }
    }
    return true;
  }

  function stateLabelOfRun(s) {
    return s === "rolled_back" ? "rolled back" : s;
  }

  // planWaves lists the plan's waves with their expected durations in ms.
  function planWaves(plan) {
    const out = [];
    if (!plan) return out;
    const rollouts = plan.rollouts || [];
    for (const r of rollouts) {
      for (const w of r.waves || []) {
        out.push({
          number: w.number,
          canary: !!w.canary,
          group: w.group || "",
          rollout: rollouts.length > 1 ? r.name : "",
          expected: (w.expected_duration_ns || 0) / 1e6,
          soak: (w.soak_ns || 0) / 1e6,
          hosts: (w.hosts || []).map((h) => ({ host: h.host, zone: h.availability_zone || "", expected: (h.expected_duration_ns || 0) / 1e6 })),
        });
      }
    }
    return out;
  }

  // ---- the session ------------------------------------------------------

  let S = null; // the signed-in session; replaced on sign-in and sign-out

  function newSession() {
    return {
      alive: true,
      role: "",
      roleKnown: false,
      name: "",
      runId: "",
      model: newModel(""),
      plan: null,
      waves: [],
      status: null,
      statusAt: 0,
      offset: 0, // server clock minus this browser's clock, ms
      streamGen: 0,
      abort: null,
      // ?transport=poll skips the stream (a proxy that buffers it).
      mode: new URLSearchParams(location.search).get("transport") === "poll" ? "poll" : "stream",
      received: 0, // events read from the server
      dropped: 0, // of which already known (a resume that repeated them)
      conn: "",
      rows: new Map(),
      rowOrderDirty: true,
      expanded: new Set(),
      renderQueued: false,
      alertVersionShown: -1,
      statusBusy: false,
      statusAgain: false,
      statusSoon: null,
      timers: [],
    };
  }

  function serverNow() {
    return Date.now() + (S ? S.offset : 0);
  }

  function sleep(ms) {
    return new Promise((res) => setTimeout(res, ms));
  }

  function setConn(text, cls) {
    if (!S) return;
    S.conn = text;
    const c = $("conn");
    c.textContent = text;
    c.className = "conn " + (cls || "");
  }

  function showLogin(msg) {
    $("login").hidden = false;
    $("main").hidden = true;
    $("signout").hidden = true;
    $("login-error").textContent = msg || "";
    $("token").focus();
  }

  function stopSession() {
    if (!S) return;
    S.alive = false;
    if (S.abort) S.abort.abort();
    for (const t of S.timers) clearInterval(t);
    if (S.statusSoon) clearTimeout(S.statusSoon);
    S = null;
  }

  function authLost(e) {
    stopSession();
    sessionStorage.removeItem(tokenKey);
    $("who").textContent = "";
    setConnText("");
    showLogin(e.message);
  }

  function setConnText(t) {
    $("conn").textContent = t;
    $("conn").className = "conn";
  }

  // learnRole asks GET /v1/whoami; a server without it answers 404, and
  // then the role is learnt by trying an admin-only route (GET /v1/tokens):
  // an admin is recognised, a viewer and an operator cannot be told apart,
  // so the controls stay hidden for both.
  async function learnRole(s) {
    try {
      const w = await api("/v1/whoami");
      s.role = w.role || "";
      s.name = w.name || "";
      s.roleKnown = true;
      return;
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
    }
    try {
      await api("/v1/tokens");
      s.role = "admin";
      s.roleKnown = true;
    } catch (e) {
      if (e.status !== 403) throw e;
      s.role = "";
      s.roleKnown = false;
    }
  }

  function canOperate() {
    return S && (S.role === "operator" || S.role === "admin");
  }

  async function start() {
    stopSession();
    const s = newSession();
    S = s;
    setConn("connecting…");
    try {
      await learnRole(s);
    } catch (e) {
      if (e.status === 401 || e.status === 403) return authLost(e);
      if (S !== s) return;
      if (e.status === 0) {
        // The server is restarting (or the apply serving it ended): keep
        // the token and try again.
        setConn("server unreachable, retrying", "bad");
        setTimeout(() => {
          if (S === s) start();
        }, 3000);
        return;
      }
      stopSession();
      showLogin(e.message);
      return;
    }
    if (S !== s) return;
    $("login").hidden = true;
    $("main").hidden = false;
    $("signout").hidden = false;
    $("who").textContent = s.roleKnown ? (s.name ? s.name + " · " : "") + s.role : "viewer or operator (controls hidden)";
    $("controls").hidden = !canOperate();
    clearTimeline();
    await refreshStatus();
    s.timers.push(setInterval(() => refreshStatus(), statusPollMs));
    // A running run's bars grow with the clock.
    s.timers.push(setInterval(() => {
      if (S && S.model.status === "running") invalidate();
    }, 1000));
  }

  // refreshStatus reads the status report; it also notices a new run.
  async function refreshStatus() {
    const s = S;
    if (!s || !s.alive) return;
    if (s.statusBusy) {
      s.statusAgain = true;
      return;
    }
    s.statusBusy = true;
    try {
      let st;
      try {
        st = await api("/v1/runs/current/status");
      } catch (e) {
        if (S !== s) return;
        if (e.status === 401) return authLost(e);
        if (e.status === 404) {
          $("no-run").hidden = false;
          setConn("waiting for a run", "warn");
          return;
        }
        if (e.status === 0) setConn("server unreachable, retrying", "bad");
        else setConn("error: " + e.message, "bad");
        return;
      }
      if (S !== s) return;
      $("no-run").hidden = true;
      const rep = st.report;
      if (rep && rep.status === "running" && rep.started_at) {
        s.offset = Date.parse(rep.started_at) + rep.elapsed_ns / 1e6 - Date.now();
      }
      s.status = st;
      s.statusAt = Date.now();
      if (rep && rep.run_id !== s.runId) await switchRun(s, rep.run_id);
      if (S !== s) return;
      renderStatus();
      invalidate();
    } finally {
      s.statusBusy = false;
      if (s.statusAgain && S === s) {
        s.statusAgain = false;
        refreshStatus();
      }
    }
  }

  // statusSoon refreshes the status shortly after events that change it,
  // at most once a second.
  function statusSoon() {
    const s = S;
    if (!s || s.statusSoon) return;
    const wait = Math.max(300, 1000 - (Date.now() - s.statusAt));
    s.statusSoon = setTimeout(() => {
      s.statusSoon = null;
      refreshStatus();
    }, wait);
  }

  async function switchRun(s, runId) {
    s.runId = runId;
    s.model = newModel(runId);
    s.plan = null;
    s.waves = [];
    clearTimeline();
    $("timeline-note").hidden = true;
    try {
      s.plan = await api("/v1/runs/" + encodeURIComponent(runId) + "/plan");
    } catch (e) {
      if (e.status === 401) return authLost(e);
      $("timeline-note").textContent = "The plan of this run is not available (" + e.message + "): only the actual times are shown.";
      $("timeline-note").hidden = false;
    }
    if (S !== s) return;
    s.waves = planWaves(s.plan);
    for (const w of s.waves) for (const h of w.hosts) s.model.hostWave.set(h.host, w.number);
    follow(s);
  }

  // follow reads the run's events: the stream while it works, polling
  // otherwise. A new call supersedes the previous one.
  function follow(s) {
    if (s.abort) s.abort.abort();
    const gen = ++s.streamGen;
    const live = () => S === s && s.alive && s.streamGen === gen;
    (s.mode === "poll" ? pollLoop : streamLoop)(s, live);
  }

  function deliver(s, events) {
    let hostChange = false;
    for (const e of events) {
      if (e.run_id && e.run_id !== s.runId) continue;
      s.received++;
      if (!(e.seq > s.model.lastSeq)) s.dropped++;
      if (ingest(s.model, e) && (e.kind === "host_status" || e.kind === "step_started" || e.kind === "step_finished" || e.kind === "version_recorded" || finalKinds[e.kind])) hostChange = true;
    }
    if (hostChange) statusSoon();
    invalidate();
  }

  async function streamLoop(s, live) {
    let failures = 0;
    while (live()) {
      const ctrl = new AbortController();
      s.abort = ctrl;
      let silent = null;
      let sawBytes = false;
      const arm = () => {
        clearTimeout(silent);
        silent = setTimeout(() => ctrl.abort(), streamSilenceMs);
      };
      try {
        const r = await fetch("/v1/runs/" + encodeURIComponent(s.runId) + "/stream", {
          headers: { Authorization: "Bearer " + token(), "Last-Event-ID": String(s.model.lastSeq), Accept: "text/event-stream" },
          signal: ctrl.signal,
          cache: "no-store",
        });
        if (r.status === 401) return authLost(new APIError(401, "the token is no longer valid"));
        if (r.status >= 500 || (r.ok && (!r.body || typeof TextDecoderStream === "undefined"))) {
          // The server cannot stream, or this browser cannot read a
          // stream: poll instead.
          if (r.body) r.body.cancel().catch(() => {});
          s.mode = "poll";
          if (live()) pollLoop(s, live);
          return;
        }
        if (!r.ok) throw new APIError(r.status, "stream: HTTP " + r.status);
        setConn("live", "ok");
        // What changed while disconnected shows at once, not at the next poll.
        if (failures > 0) refreshStatus();
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        const parser = new SSEParser();
        arm();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !live()) break;
          sawBytes = true;
          failures = 0;
          arm();
          const events = [];
          for (const ev of parser.push(value)) {
            try {
              events.push(JSON.parse(ev.data));
            } catch (e) {
              // a malformed event is skipped; the next poll of the status shows the truth
            }
          }
          if (events.length) deliver(s, events);
        }
        reader.cancel().catch(() => {});
      } catch (e) {
        // network error, abort by the silence timer or by a newer follow()
      } finally {
        clearTimeout(silent);
      }
      if (!live()) return;
      if (!sawBytes && ctrl.signal.aborted) {
        // Connected but silent for longer than the keep-alive: something
        // between us and the server buffers the stream. Poll instead.
        s.mode = "poll";
        pollLoop(s, live);
        return;
      }
      failures++;
      const wait = Math.min(1000 * 2 ** Math.min(failures - 1, 4), 10000);
      setConn("reconnecting in " + Math.round(wait / 1000) + "s", "warn");
      await sleep(wait);
    }
  }

  async function pollLoop(s, live) {
    while (live()) {
      try {
        const r = await api("/v1/runs/" + encodeURIComponent(s.runId) + "/events?after=" + s.model.lastSeq);
        if (!live()) return;
        setConn("polling every " + eventPollMs / 1000 + "s", "ok");
        deliver(s, r.events || []);
      } catch (e) {
        if (e.status === 401) return authLost(e);
        if (live()) setConn(e.status === 0 ? "server unreachable, retrying" : "error: " + e.message, "bad");
      }
      await sleep(eventPollMs);
    }
  }

  // ---- rendering --------------------------------------------------------

  function invalidate() {
    if (!S || S.renderQueued) return;
    S.renderQueued = true;
    requestAnimationFrame(() => {
      if (!S) return;
      S.renderQueued = false;
      renderRun();
      renderTimeline();
      renderAlerts();
      renderControls();
    });
  }

  function renderRun() {
    const m = S.model;
    const rep = S.status && S.status.report;
    const status = m.status || (rep && rep.status) || "";
    $("run").textContent = S.runId ? "run " + S.runId : "";
    const b = $("run-status");
    b.hidden = !status;
    b.textContent = stateLabelOfRun(status) + (rep && rep.reverting ? " (rolling back)" : "");
    b.className = "badge run-" + status;
  }

  function renderStatus() {
    const st = S.status;
    const rep = st.report;
    const dl = $("summary");
    const by = rep.totals.hosts_by_status || {};
    const counts = hostStates.filter((k) => by[k]).map((k) => by[k] + " " + stateLabels[k]).join(" · ");
    const items = [
      ["Started", rep.started_at ? clock(Date.parse(rep.started_at)) : "–"],
      ["Elapsed / expected", dur(rep.elapsed_ns / 1e6) + " / " + (rep.expected_ns ? dur(rep.expected_ns / 1e6) : "–")],
      ["Wave", (rep.totals.current_wave || 0) + " of " + (rep.totals.waves || 0)],
      ["Hosts", rep.totals.hosts + (counts ? " (" + counts + ")" : "")],
      ["Steps", rep.totals.steps_ok + " ok · " + rep.totals.steps_failed + " failed · " + rep.totals.steps_running + " running"],
    ];
    dl.replaceChildren(...items.flatMap(([k, v]) => [node("div", {}, [node("dt", { text: k }), node("dd", { text: v })])]));
    const done = rep.totals.hosts - (by.pending || 0) - (by.in_progress || 0);
    $("progress").max = Math.max(rep.totals.hosts, 1);
    $("progress").value = done;
    $("progress-text").textContent = done + " of " + rep.totals.hosts;

    // Filters keep their choice while their options follow the report.
    const zoneSel = $("filter-zone");
    const zones = (rep.zones || []).map((z) => [z.name, (z.name || "(no zone)") + " (" + z.hosts + ")"]);
    fillSelect(zoneSel, "all zones", zones);
    fillSelect($("filter-status"), "all states", hostStates.filter((k) => by[k]).map((k) => [k, stateLabels[k] + " (" + by[k] + ")"]));
    renderHosts();
  }

  function fillSelect(sel, all, options) {
    const keep = sel.value;
    const want = [["", all]].concat(options);
    if (keep && !options.some(([v]) => v === keep)) want.push([keep, (stateLabels[keep] || keep) + " (0)"]);
    const same = sel.options.length === want.length && want.every(([v, t], i) => sel.options[i].value === v && sel.options[i].textContent === t);
    if (same) return;
    sel.replaceChildren(...want.map(([v, t]) => node("option", { text: t, attrs: { value: v } })));
    sel.value = keep;
  }

  function renderHosts() {
    if (!S || !S.status) return;
    const rep = S.status.report;
    const zone = $("filter-zone").value;
    const state = $("filter-status").value;
    const name = $("filter-name").value.trim().toLowerCase();
    const rows = [];
    for (const h of rep.hosts || []) {
      if (zone && (h.zone || "") !== zone) continue;
      if (state && h.status !== state) continue;
      if (name && !h.name.toLowerCase().includes(name)) continue;
      const versions = (h.versions || []).map((v) => v.component + " " + (v.now === v.to ? v.now : v.now + " → " + v.to)).join(", ");
      let step = "";
      if (h.error) step = (h.code ? h.code + ": " : "") + h.error;
      else if (h.step) {
        step = h.step.replace(/^w\d+\//, "").replace(h.name + "/", "");
        if (h.step_started) step += " (" + dur(serverNow() - Date.parse(h.step_started)) + ")";
      }
      const tr = node("tr", { data: { host: h.name, zone: h.zone || "", status: h.status } }, [
        node("th", { text: h.name, attrs: { scope: "row" } }),
        node("td", { text: h.zone || "–" }),
        node("td", { text: h.wave || "–" }),
        node("td", {}, [node("span", { cls: "badge host-" + h.status, text: stateLabels[h.status] || h.status })]),
        node("td", { text: versions, cls: "versions" }),
        node("td", { text: (h.status === "pending" && !h.elapsed_ns ? "–" : dur(h.elapsed_ns / 1e6)) + " / " + (h.expected_ns ? dur(h.expected_ns / 1e6) : "–") }),
        node("td", { text: step, cls: h.error ? "error" : "", attrs: step ? { title: step } : {} }),
      ]);
      rows.push(tr);
    }
    $("hosts").tBodies[0].replaceChildren(...rows);
    $("hosts-shown").textContent = rows.length === (rep.hosts || []).length ? rows.length + " hosts" : "showing " + rows.length + " of " + (rep.hosts || []).length + " hosts";
  }

  // ---- timeline -----------------------------------------------------------

  function clearTimeline() {
    const tl = $("timeline");
    for (const r of Array.from(tl.querySelectorAll(".g-body"))) r.remove();
    if (S) {
      S.rows = new Map();
      S.rowOrderDirty = true;
    }
    $("axis").replaceChildren();
  }

  // row returns the timeline row for key, making it on first use.
  function row(key, kind, labelText, wave) {
    let r = S.rows.get(key);
    if (r) return r;
    const label = node("div", { cls: "g-label" });
    const track = node("div", { cls: "g-track", attrs: { role: "img" } });
    const bars = {
      planned: node("div", { cls: "g-bar planned" }),
      soak: node("div", { cls: "g-bar soak" }),
      actual: node("div", { cls: "g-bar actual" }),
      now: node("div", { cls: "g-now" }),
    };
    for (const b of Object.values(bars)) {
      b.hidden = true;
      track.appendChild(b);
    }
    const el = node("div", { cls: "g-row g-body g-" + kind, data: { key } }, [label, track]);
    if (kind === "wave") {
      el.dataset.wave = String(wave);
      const btn = node("button", { cls: "g-toggle", attrs: { type: "button", "aria-expanded": "false" } });
      btn.addEventListener("click", () => {
        if (S.expanded.has(wave)) S.expanded.delete(wave);
        else S.expanded.add(wave);
        invalidate();
      });
      label.appendChild(btn);
      r = { el, label, track, bars, btn };
    } else {
      el.dataset.host = key.slice(2);
      el.dataset.wave = String(wave);
      r = { el, label, track, bars };
    }
    label.appendChild(node("span", { cls: "g-name", text: labelText }));
    S.rows.set(key, r);
    S.rowOrderDirty = true;
    return r;
  }

  function niceStep(spanMs) {
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
    for (const s of steps) if (spanMs / (s * 1000) <= 8) return s * 1000;
    return 86400000 * Math.ceil(spanMs / 86400000 / 8);
  }

  // tickLabel formats a tick's whole number of seconds: 5s, 1m30s, 2h.
  function tickLabel(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60 ? String(s % 60).padStart(2, "0") + "s" : "");
    return Math.floor(s / 3600) + "h" + (s % 3600 ? String(Math.round((s % 3600) / 60)).padStart(2, "0") + "m" : "");
  }

  function barClass(status, running, failed) {
    if (running) return "running";
    if (status === "failed" || status === "in_maintenance") return "failed";
    if (status === "rolled_back") return "rolledback";
    if (failed) return "failed";
    return "done";
  }

  function renderTimeline() {
    const m = S.model;
    const rep = S.status && S.status.report;
    const t0 = m.start != null ? m.start : rep && rep.started_at ? Date.parse(rep.started_at) : null;
    const running = m.status === "running";
    const now = running ? serverNow() : m.end != null ? m.end : m.lastTime;

    // Waves: the plan's, then any the journal shows that the plan lacks.
    const waves = S.waves.slice();
    const known = new Set(waves.map((w) => w.number));
    for (const n of Array.from(m.waveAct.keys()).sort((a, b) => a - b)) {
      if (!known.has(n)) {
        const hosts = [];
        for (const [h, w] of m.hostWave) if (w === n) hosts.push({ host: h, zone: "", expected: 0 });
        waves.push({ number: n, canary: false, group: "", rollout: "", expected: 0, soak: 0, hosts });
      }
    }
    if (t0 == null || !waves.length) {
      $("axis").replaceChildren();
      return;
    }

    // The planned schedule: waves end to end from the run's start.
    let cursor = t0;
    const planned = new Map();
    for (const w of waves) {
      planned.set(w.number, { start: cursor, end: cursor + w.expected, soakEnd: cursor + w.expected + w.soak });
      cursor += w.expected + w.soak;
    }
    let actualEnd = t0;
    for (const s of m.waveAct.values()) if (s.end != null && s.end > actualEnd) actualEnd = s.end;
    if (now != null && (running || m.lastTime) && now > actualEnd) actualEnd = now;
    const mode = $("axis-mode").value;
    const end = Math.max(t0 + 1000, mode === "actual" ? actualEnd : Math.max(cursor, actualEnd));
    const pct = (t) => Math.min(100, Math.max(0, ((t - t0) / (end - t0)) * 100));
    const place = (bar, a, b, minPct) => {
      if (a == null || b == null || a > end) {
        bar.hidden = true;
        return;
      }
      bar.hidden = false;
      const l = pct(a);
      bar.style.left = l + "%";
      bar.style.width = Math.max(pct(b) - l, minPct || 0) + "%";
    };

    // Axis: elapsed time since the run started.
    const step = niceStep(end - t0);
    const ticks = [];
    for (let t = 0; t0 + t <= end; t += step) {
      const tick = node("div", { cls: "tick", text: t === 0 ? clock(t0) : "+" + tickLabel(t) });
      tick.style.left = pct(t0 + t) + "%";
      ticks.push(tick);
    }
    $("axis").replaceChildren(...ticks);

    const order = [];
    const allShown = $("expand-all").getAttribute("aria-pressed") === "true";
    for (const w of waves) {
      const hostNames = w.hosts.map((h) => h.host);
      const label = "Wave " + w.number + (w.canary ? " · canary" : "") + (w.group ? " · " + w.group : "") + (w.rollout ? " · " + w.rollout : "") + " · " + hostNames.length + (hostNames.length === 1 ? " host" : " hosts");
      const r = row("w:" + w.number, "wave", label, w.number);
      order.push(r);
      const p = planned.get(w.number);
      const a = m.waveAct.get(w.number);
      let anyRunning = a ? a.open > 0 : false;
      let worst = "";
      for (const h of hostNames) {
        const st = m.hostStatus.get(h);
        if (st === "in_progress" && running) anyRunning = true;
        if (st === "failed" || st === "in_maintenance") worst = "failed";
        else if (st === "rolled_back" && worst !== "failed") worst = "rolled_back";
      }
      anyRunning = anyRunning && running;
      place(r.bars.planned, p.start, p.end, 0.3);
      place(r.bars.soak, w.soak ? p.end : null, p.soakEnd, 0.3);
      const aEnd = a && a.start != null ? (anyRunning ? Math.max(now, a.end || a.start) : a.end != null ? a.end : a.start) : null;
      place(r.bars.actual, a && a.start, aEnd, 0.3);
      const cls = a && a.start != null ? barClass(worst, anyRunning, a.failed) : "";
      r.bars.actual.className = "g-bar actual " + cls;
      r.bars.actual.dataset.ms = a && a.start != null ? String(Math.round(aEnd - a.start)) : "0";
      r.bars.actual.dataset.state = cls;
      place(r.bars.now, running ? now : null, running ? now : null, 0);
      const actualText = a && a.start != null ? "actual +" + dur(a.start - t0) + " to +" + dur(aEnd - t0) + " (" + dur(aEnd - a.start) + ", " + cls + ")" : "not started";
      const text = label + ": planned +" + dur(p.start - t0) + " to +" + dur(p.end - t0) + " (" + dur(w.expected) + (w.soak ? ", then soak " + dur(w.soak) : "") + "); " + actualText;
      r.track.setAttribute("aria-label", text);
      r.track.title = text;
      const open = allShown || S.expanded.has(w.number);
      r.btn.setAttribute("aria-expanded", String(open));
      r.btn.setAttribute("aria-label", (open ? "Hide" : "Show") + " the hosts of wave " + w.number);
      r.btn.textContent = open ? "▾" : "▸";
      r.el.dataset.state = cls || "pending";

      for (const h of w.hosts) {
        const hr = row("h:" + h.host, "host", h.host, w.number);
        order.push(hr);
        hr.el.hidden = !open;
        if (!open) continue;
        const ha = m.hostAct.get(h.host);
        const st = m.hostStatus.get(h.host) || "pending";
        const hRunning = running && (st === "in_progress" || (ha && ha.open > 0));
        const hEnd = ha && ha.start != null ? (hRunning ? Math.max(now, ha.end || ha.start) : ha.end != null ? ha.end : ha.start) : null;
        place(hr.bars.planned, h.expected ? p.start : null, p.start + h.expected, 0.3);
        place(hr.bars.actual, ha && ha.start, hEnd, 0.3);
        const hcls = ha && ha.start != null ? barClass(st, hRunning, ha.failed) : "";
        hr.bars.actual.className = "g-bar actual " + hcls;
        hr.bars.actual.dataset.ms = ha && ha.start != null ? String(Math.round(hEnd - ha.start)) : "0";
        hr.bars.actual.dataset.state = hcls;
        place(hr.bars.now, running ? now : null, running ? now : null, 0);
        const ht = h.host + " (" + (stateLabels[st] || st) + "): planned " + (h.expected ? dur(h.expected) : "–") + "; " + (ha && ha.start != null ? "actual +" + dur(ha.start - t0) + " to +" + dur(hEnd - t0) + " (" + dur(hEnd - ha.start) + ")" : "not started");
        hr.track.setAttribute("aria-label", ht);
        hr.track.title = ht;
        hr.el.dataset.state = hcls || "pending";
      }
    }
    if (S.rowOrderDirty) {
      $("timeline").append(...order.map((r) => r.el));
      S.rowOrderDirty = false;
    }
  }

  // ---- alerts ---------------------------------------------------------------

  function renderAlerts() {
    const m = S.model;
    if (S.alertVersionShown === m.alertVersion) return;
    S.alertVersionShown = m.alertVersion;
    const list = m.alerts.slice(-shownAlerts).reverse();
    let errors = 0;
    let warnings = 0;
    for (const a of m.alerts) {
      if (a.level === "error") errors += a.count;
      else if (a.level === "warn") warnings += a.count;
    }
    $("alert-counts").textContent = "(" + errors + (errors === 1 ? " error, " : " errors, ") + warnings + (warnings === 1 ? " warning)" : " warnings)");
    $("alerts-empty").hidden = m.alerts.length > 0;
    const items = list.map((a) =>
      node("li", { cls: "alert " + a.level, data: { code: a.code || "", level: a.level } }, [
        node("span", { cls: "a-level", text: a.level === "error" ? "Error" : a.level === "warn" ? "Warning" : "Note" }),
        node("time", { text: clock(a.time), attrs: { datetime: new Date(a.time).toISOString() } }),
        node("span", { cls: "a-code", text: a.code || "" }),
        node("span", { cls: "a-host", text: a.host || "" }),
        node("span", { cls: "a-msg", text: a.message + (a.count > 1 ? " (×" + a.count + ")" : "") }),
      ]),
    );
    if (m.alerts.length > shownAlerts) items.push(node("li", { cls: "muted", text: m.alerts.length - shownAlerts + " older alerts not shown" }));
    $("alerts").replaceChildren(...items);
  }

  // ---- controls -------------------------------------------------------------

  function renderControls() {
    if (!canOperate()) {
      $("controls").hidden = true;
      return;
    }
    $("controls").hidden = false;
    const c = (S.status && S.status.control) || {};
    const running = S.model.status === "running";
    $("btn-pause").disabled = !!c.paused || !running;
    $("btn-resume").disabled = !c.paused;
    $("btn-abort").disabled = !running || !!c.aborted;
    const w = S.model.canaryWaiting;
    const approved = (c.approved_waves || []).includes(w);
    $("btn-approve").hidden = !w || !running;
    $("btn-approve").disabled = approved;
    $("btn-approve").textContent = approved ? "Canary wave " + w + " approved" : "Approve canary wave " + w;
    const parts = [];
    if (c.paused) parts.push("Paused by " + (c.updated_by || "?") + " at " + clock(Date.parse(c.updated_at)) + ": the running steps finish, no new step starts.");
    if (c.aborted) parts.push("Abort requested by " + (c.updated_by || "?") + ".");
    if (w && !approved && running) parts.push("The run waits after canary wave " + w + " for an approval.");
    $("control-state").textContent = parts.join(" ");
    $("controls").dataset.paused = String(!!c.paused);
  }

  async function act(what, body) {
    const s = S;
    const msg = $("control-msg");
    msg.textContent = what + "…";
    try {
      await api("/v1/runs/" + encodeURIComponent(s.runId) + "/" + what, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: body ? JSON.stringify(body) : "{}",
      });
      if (S !== s) return;
      msg.textContent = { pause: "Pause requested.", resume: "Resume requested.", abort: "Abort requested.", approve: "Approved." }[what];
      await refreshStatus();
    } catch (e) {
      if (e.status === 401) return authLost(e);
      msg.textContent = "Could not " + what + ": " + e.message;
    }
  }

  // ---- wiring -------------------------------------------------------------

  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(tokenKey, t);
    $("token").value = "";
    $("login-error").textContent = "";
    start();
  });
  $("signout").addEventListener("click", () => {
    stopSession();
    sessionStorage.removeItem(tokenKey);
    $("who").textContent = "";
    setConnText("");
    $("run").textContent = "";
    $("run-status").hidden = true;
    showLogin("");
  });
  $("btn-pause").addEventListener("click", () => act("pause"));
  $("btn-resume").addEventListener("click", () => act("resume"));
  $("btn-abort").addEventListener("click", () => {
    if (window.confirm("Abort the run? No new step starts; the running steps finish and the run halts (escalator apply continues it later).")) act("abort");
  });
  $("btn-approve").addEventListener("click", () => {
    if (S && S.model.canaryWaiting) act("approve", { wave: S.model.canaryWaiting });
  });
  for (const id of ["filter-zone", "filter-status", "filter-name"]) $(id).addEventListener("input", renderHosts);
  $("axis-mode").addEventListener("change", invalidate);
  $("expand-all").addEventListener("click", () => {
    const b = $("expand-all");
    const on = b.getAttribute("aria-pressed") !== "true";
    b.setAttribute("aria-pressed", String(on));
    b.textContent = on ? "Hide hosts" : "Show hosts";
    if (!on && S) S.expanded.clear();
    invalidate();
  });

  // For tests and debugging from the console: the pure parts, and where
  // the page stands.
  window.escalatorDashboard = {
    SSEParser,
    dur,
    ingest,
    newModel,
    state: () => (S ? { runId: S.runId, mode: S.mode, lastSeq: S.model.lastSeq, received: S.received, dropped: S.dropped, role: S.role, status: S.model.status, conn: S.conn } : null),
  };

  if (token()) start();
  else showLogin("");
})();
