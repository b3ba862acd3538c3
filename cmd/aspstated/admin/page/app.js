// The admin page (docs/admin-api.md). It reads /api/overview every 2 s and,
// with a token, /api/sessions?locked=1 for the IDs that force-unlock needs.
// Everything the server sends is written with textContent: session data and
// keys are personal data and could hold markup or script.
"use strict";

(function () {
  const TOKEN_KEY = "aspstate-admin-token"; // sessionStorage only: gone with the tab
  const REFRESH_MS = 2000;
  const CONFIRM_MS = 5000;

  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY) || "";
  let overview = null;
  let lockedSessions = null; // the /api/sessions?locked=1 answer, with a token
  let sessionsError = "";
  const confirming = new Map(); // key_hash -> time the confirmation expires
  let timer = 0;

  // el builds an element with text (never markup) and an optional class.
  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  // fill replaces a table body's rows; each row is a list of cells, a cell
  // is a string or a node (a td is made around it).
  function fill(tbody, rows, emptyText, cols) {
    const out = [];
    for (const r of rows) {
      const tr = el("tr");
      for (const c of r.cells) {
        if (c instanceof Node && c.nodeName === "TD") tr.append(c);
        else if (c instanceof Node) { const td = el("td"); td.append(c); tr.append(td); }
        else tr.append(el("td", c));
      }
      if (r.attrs) for (const [k, v] of Object.entries(r.attrs)) tr.setAttribute(k, v);
      out.push(tr);
    }
    if (out.length === 0) {
      const td = el("td", emptyText, "empty");
      td.colSpan = cols;
      out.push(el("tr"));
      out[0].append(td);
    }
    tbody.replaceChildren(...out);
  }

  function td(text, cls) { return el("td", text, cls); }

  function fmtInt(n) { return typeof n === "number" ? n.toLocaleString("en-US") : "–"; }
  function fmtBytes(n) {
    if (typeof n !== "number") return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }
  function fmtNum(n, digits) { return typeof n === "number" ? n.toFixed(digits) : "–"; }
  function fmtMs(n) {
    if (typeof n !== "number") return "–";
    return n < 1 ? n.toFixed(3) : n < 100 ? n.toFixed(1) : n.toFixed(0);
  }
  // fmtAge: 42s, 3m 05s, 2h 01m, 1d 03h.
  function fmtAge(s) {
    if (typeof s !== "number" || !isFinite(s)) return "–";
    s = Math.max(0, Math.floor(s));
    const p = (v) => String(v).padStart(2, "0");
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + p(s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h " + p(Math.floor(s / 60) % 60) + "m";
    return Math.floor(s / 86400) + "d " + p(Math.floor(s / 3600) % 24) + "h";
  }
  function fmtDate(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString();
  }

  // api fetches path on this origin with the token, if any; it resolves to
  // {status, body} with body parsed when JSON, and never rejects.
  async function api(path, method) {
    const headers = { "Accept": "application/json" };
    if (token) headers["Authorization"] = "Bearer " + token;
    try {
      const resp = await fetch(path, { method: method || "GET", headers, cache: "no-store", credentials: "omit" });
      let body = null;
      const text = await resp.text();
      try { body = JSON.parse(text); } catch (e) { body = { error: text.trim() }; }
      return { status: resp.status, body };
    } catch (e) {
      return { status: 0, body: { error: "cannot reach the gateway (" + e.message + ")" } };
    }
  }

  function why(r) {
    const msg = r.body && r.body.error ? r.body.error : "";
    switch (r.status) {
      case 0: return msg;
      case 401: return token ? "the token was refused (401)" : "a token is needed (401)";
      case 403: return "the gateway has no admin.token_file, so token-only actions are off (403)";
      default: return "HTTP " + r.status + (msg ? ": " + msg : "");
    }
  }

  function banner(text) {
    const b = $("banner");
    b.textContent = text || "";
    b.hidden = !text;
  }

  function showTokenState() {
    $("token-state").textContent = token ? (sessionsError || "token in use (this tab only)") : "no token: overview only";
    $("token-state").className = token && sessionsError ? "bad small" : "muted small";
    $("token-forget").disabled = !token;
  }

  function renderOverview(o) {
    $("version").textContent = o.version || "";
    $("sessions").textContent = fmtInt(o.sessions);
    $("bytes").textContent = fmtBytes(o.bytes);
    $("locked").textContent = fmtInt(o.locked);
    $("connections").textContent = fmtInt(o.connections);
    $("backend").textContent = o.backend || "–";
    const h = $("backend-health");
    if (o.backend_ready) { h.textContent = "ready"; h.className = "small ok"; }
    else { h.textContent = "not ready" + (o.ready_reason ? ": " + o.ready_reason : ""); h.className = "small bad"; }
    $("walk-age").textContent = fmtAge(o.walk_age_seconds);
    $("walk-error").textContent = o.walk_error ? "The last walk failed (" + o.walk_error + "): these are the last good counts." : "";
    $("updated").textContent = new Date().toLocaleTimeString();

    const reqs = o.requests || {};
    fill($("requests").tBodies[0], Object.keys(reqs).sort().map((op) => {
      const r = reqs[op] || {};
      return { cells: [td(op, "mono"), td(fmtNum(r.per_second, 1), "num"), td(fmtMs(r.p50_ms), "num"),
        td(fmtMs(r.p99_ms), "num"), td(fmtInt(r.total), "num")] };
    }), "no requests yet", 5);

    renderPeers(o.peering);

    const cfg = o.config || {};
    fill($("config").tBodies[0], Object.keys(cfg).sort().map((k) => {
      const v = cfg[k];
      return { cells: [td(k, "mono"), td(typeof v === "object" && v !== null ? JSON.stringify(v) : String(v), "mono")] };
    }), "not reported", 2);
  }

  function renderPeers(p) {
    const sum = $("peering-summary");
    if (!p) {
      sum.textContent = "No peering: this gateway serves alone.";
      sum.className = "small muted";
      fill($("peers").tBodies[0], [], "no peers", 7);
      return;
    }
    const parts = ["self " + p.self, "epoch " + p.epoch,
      p.serving ? "serving" : "NOT serving" + (p.not_serving ? " (" + p.not_serving + ")" : ""),
      "lease " + (p.lease ? "held" : "not held") + " (" + p.lease_holders + "/" + p.lease_majority + " needed)",
      "automatic failover " + (p.automatic_failover ? "on" : "off"),
      "hand-off in " + (p.handoff_in_complete ? "complete" : "in progress") + ", out " + (p.handoff_out_complete ? "complete" : "in progress")];
    sum.textContent = parts.join(" · ");
    sum.className = "small " + (p.serving ? "" : "bad");
    fill($("peers").tBodies[0], (p.members || []).map((m) => {
      let link;
      if (m.self) link = td("this gateway", "muted");
      else if (m.link_up) link = td("up" + (m.link_since ? " since " + fmtDate(m.link_since) : ""), "ok");
      else link = td("down", "bad");
      const state = td(m.state, m.state === "active" ? "ok" : m.state === "down" || m.state === "gone" ? "bad" : "warn");
      return { cells: [td(m.id, "mono"), td(m.addr, "mono"), state, link, td(m.rtt || "–"), td(m.heard_ago || "–"),
        td(m.last_error || "", "small bad")] };
    }), "no members", 7);
  }

  function renderLocks() {
    const tbody = $("locks").tBodies[0];
    const now = Date.now();
    for (const [k, until] of confirming) if (until <= now) confirming.delete(k);
    // With a token, the listing (fresh, with IDs, oldest first); without, the
    // overview's locks by key hash.
    const withIDs = token && lockedSessions;
    const locks = withIDs ? lockedSessions.sessions || [] : (overview && overview.locks) || [];
    fill(tbody, locks.map((l) => {
      const cells = [td(l.key_hash, "mono"), td(fmtAge(l.lock_age_seconds), "num age"), td(fmtDate(l.lock_date))];
      const act = el("td");
      if (withIDs && l.id) {
        const wait = confirming.has(l.key_hash);
        const b = el("button", wait ? "Confirm unlock" : "Force unlock", "danger unlock" + (wait ? " confirm" : ""));
        b.type = "button";
        b.addEventListener("click", () => unlockClicked(l.id, l.key_hash, b));
        act.append(b);
      }
      cells.push(act);
      return { cells, attrs: { "data-key-hash": l.key_hash } };
    }), overview ? "no locks held" : "–", 4);
    const total = withIDs ? lockedSessions.total : overview && overview.locked;
    let note = "";
    if (typeof total === "number" && total > locks.length) note = "Showing the oldest " + locks.length + " of " + total + ". ";
    if (!token) note += "Enter the token to force-unlock.";
    $("locks-note").textContent = note;
  }

  async function unlockClicked(id, keyHash, button) {
    if (!confirming.has(keyHash)) {
      confirming.set(keyHash, Date.now() + CONFIRM_MS);
      renderLocks();
      return;
    }
    confirming.delete(keyHash);
    button.disabled = true;
    const q = new URLSearchParams({ id, who: "admin page", why: "force-unlock from the admin page" });
    const r = await api("/api/session/unlock?" + q.toString(), "POST");
    const st = $("unlock-status");
    st.hidden = false;
    if (r.status === 200 && r.body && r.body.unlocked) {
      st.textContent = "Unlocked " + keyHash + " (its lock cookie was " + r.body.cookie + ").";
      st.className = "small ok";
    } else if (r.status === 200) {
      st.textContent = keyHash + " was no longer locked.";
      st.className = "small muted";
    } else if (r.status === 409) {
      st.textContent = "The lock on " + keyHash + " changed meanwhile; look again and retry.";
      st.className = "small warn";
    } else {
      st.textContent = "Could not unlock " + keyHash + ": " + why(r);
      st.className = "small bad";
    }
    refreshNow();
  }

  async function refresh() {
    const o = await api("/api/overview");
    if (o.status === 200 && o.body) {
      overview = o.body;
      banner("");
      renderOverview(overview);
    } else {
      banner("Cannot read the overview: " + why(o) + (overview ? " (showing the last answer)" : ""));
    }
    if (token) {
      const s = await api("/api/sessions?locked=1&limit=50");
      if (s.status === 200 && s.body) { lockedSessions = s.body; sessionsError = ""; }
      else { lockedSessions = null; sessionsError = why(s); }
    } else {
      lockedSessions = null; sessionsError = "";
    }
    showTokenState();
    renderLocks();
  }

  function refreshNow() {
    clearTimeout(timer);
    refresh().finally(() => { timer = setTimeout(refreshNow, REFRESH_MS); });
  }

  function useToken() {
    const v = $("token").value.trim();
    $("token").value = "";
    if (!v) { forgetToken(); return; }
    token = v;
    sessionStorage.setItem(TOKEN_KEY, token);
    showTokenState();
    refreshNow();
  }

  function forgetToken() {
    token = "";
    sessionStorage.removeItem(TOKEN_KEY);
    lockedSessions = null;
    confirming.clear();
    showTokenState();
    refreshNow();
  }

  $("token-save").addEventListener("click", useToken);
  $("token-forget").addEventListener("click", forgetToken);
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); useToken(); } });
  showTokenState();
  refreshNow();
})();
