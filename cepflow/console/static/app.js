// The cepflow console: every page is a view of the HTTP API, called with the operator's token.
"use strict";

const TOKEN_KEY = "cepflow.token";
const main = document.getElementById("main");
let currentPage = "";

// ---- the API ---------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.errors = (body && body.errors) || [];
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (currentPage !== "login") location.hash = "#/login";  // the sign-in page shows the error itself
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// ---- small helpers ---------------------------------------------------------------------------

function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function flash(message, kind = "info") {
  const box = document.getElementById("flash");
  box.innerHTML = message ? `<div class="${kind}" data-flash="${kind}">${esc(message)}</div>` : "";
}

function problems(error) {
  const items = (error.errors || []).map((e) => `<li data-field="${esc(e.field)}">${esc(e.field || "document")}: ${esc(e.message)}</li>`);
  return `<ul class="problems">${items.join("") || `<li>${esc(error.message)}</li>`}</ul>`;
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(400, { detail: `${what}: invalid JSON (${e.message})`, errors: [{ field: what, message: e.message }] });
  }
}

function parseEvents(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  if (trimmed.startsWith("[")) return parseJson(trimmed, "events");
  return trimmed.split("\n").filter((l) => l.trim()).map((line, i) => parseJson(line, `events line ${i + 1}`));
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

function sparkline(counts) {
  const max = Math.max(1, ...counts);
  const w = 96, h = 20, step = w / Math.max(1, counts.length - 1);
  const points = counts.map((c, i) => `${(i * step).toFixed(1)},${(h - 1 - (c / max) * (h - 2)).toFixed(1)}`).join(" ");
  return `<svg class="spark" width="${w}" height="${h}" aria-label="fires per hour, last 24 h"><polyline fill="none" stroke="#2d5bd3" stroke-width="1.5" points="${points}"/></svg>`;
}

// ---- pages -----------------------------------------------------------------------------------

const pages = {};
let navigation = 0;

class Superseded extends Error {}

// A page renders only while it is still the page asked for: a slower, older one is dropped.
function render(seq, html) {
  if (seq !== navigation) throw new Superseded();
  main.innerHTML = html;
}

pages.login = async () => {
  const seq = navigation;
  render(seq, `<h1>Sign in</h1>
    <div class="card"><p>Paste an API token (<code>cepflow tokens create NAME --role ROLE</code>).</p>
    <form id="login" class="row"><input id="token" type="password" size="60" placeholder="token" autocomplete="off">
    <button type="submit">Sign in</button></form></div>`);
  document.getElementById("login").onsubmit = async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    try {
      await who();
      location.hash = "#/rules";
    } catch (e) {
      flash(e.message, "error");
    }
  };
};

pages.rules = async () => {
  const seq = navigation;
  const [rules, fired] = await Promise.all([
    api("GET", "/rules"),
    api("GET", "/executions" + query({ status: "success", since: "24h", limit: 1000 })),
  ]);
  const now = Date.now();
  const bins = {};
  for (const row of fired) {
    const hour = 23 - Math.min(23, Math.floor((now - new Date(row.created_at)) / 3600000));
    (bins[row.rule] ||= new Array(24).fill(0))[hour] += 1;
  }
  const rows = rules.map((r) => `<tr class="clickable" data-rule="${esc(r.name)}">
      <td><a href="#/rules/${encodeURIComponent(r.name)}">${esc(r.name)}</a></td>
      <td>${r.active ? '<span class="ok">active</span>' : '<span class="muted">inactive</span>'}</td>
      <td>v${r.version}</td><td>${when(r.last_fire)}</td><td>${r.fires_last_hour}</td>
      <td>${sparkline(bins[r.name] || new Array(24).fill(0))}</td></tr>`);
  render(seq, `<h1>Rules</h1><div class="row"><button id="new-rule">New rule</button></div>
    <table id="rules"><thead><tr><th>name</th><th>state</th><th>version</th><th>last fire</th><th>fires (1 h)</th><th>24 h</th></tr></thead>
    <tbody>${rows.join("") || '<tr><td colspan="6" class="muted">no rules yet</td></tr>'}</tbody></table>`);
  document.getElementById("new-rule").onclick = () => { location.hash = "#/rules/new"; };
};

const NEW_RULE = {
  name: "my-rule",
  match: { type: "cpu" },
  where: { field: "value", op: "gt", value: 90 },
  group_by: ["host"],
  action: { type: "webhook", endpoint: "https://hooks.example.com/cpu", body: { host: "{{ event.host }}" } },
};

pages.rule = async (ref) => {
  const seq = navigation;
  const isNew = ref === "new";
  const rule = isNew ? null : await api("GET", `/rules/${encodeURIComponent(ref)}`);
  const doc = rule ? { ...rule.spec } : NEW_RULE;
  render(seq, `<h1>${isNew ? "New rule" : esc(rule.name)} ${rule ? `<span class="muted">v${rule.version}, ${rule.active ? "active" : "inactive"}</span>` : ""}</h1>
    <div class="cols">
      <div class="card"><h2>Document (JSON)</h2>
        <textarea id="editor" rows="22" spellcheck="false">${esc(json(doc))}</textarea>
        <div id="validity" class="muted">…</div>
        <div class="row"><button id="save">Save</button>
          ${rule ? `<button class="secondary" id="toggle">${rule.active ? "Disable" : "Enable"}</button>
          <a href="#/executions?rule=${encodeURIComponent(rule.name)}">executions</a>` : ""}</div>
      </div>
      <div>
        <div class="card"><h2>Test against events</h2>
          <textarea id="events" rows="6" placeholder='one JSON event per line, each with "ts"'></textarea>
          <div class="row"><button id="run-test">Test</button></div><div id="test-result"></div></div>
        ${rule ? `<div class="card"><h2>Trigger</h2>
          <textarea id="payload" rows="4">{}</textarea>
          <div class="row"><label><input type="checkbox" id="dry-run"> dry run</label><button id="trigger">Trigger</button></div>
          <div id="trigger-result"></div></div>
          <div class="card"><h2>History</h2><div id="history" class="muted">…</div></div>` : ""}
      </div>
    </div>`);
  const editor = document.getElementById("editor");
  const validity = document.getElementById("validity");
  const current = () => parseJson(editor.value, "document");
  const validate = async () => {
    try {
      const result = await api("POST", "/rules/validate", current());
      validity.innerHTML = `<span class="ok" data-valid="true">valid: ${esc(result.name)}</span>`;
    } catch (e) {
      validity.innerHTML = `<span class="bad" data-valid="false">invalid</span>${problems(e)}`;
    }
  };
  editor.addEventListener("input", debounce(validate, 300));
  validate();
  document.getElementById("save").onclick = async () => {
    try {
      const saved = await api("PUT", "/rules", current());
      flash(saved.changed ? `saved ${saved.name} v${saved.version}` : `${saved.name}: no change`);
      location.hash = `#/rules/${encodeURIComponent(saved.name)}`;
      if (!isNew && saved.name === ref) route();
    } catch (e) {
      flash(e.message, "error");
      validity.innerHTML = `<span class="bad" data-valid="false">invalid</span>${problems(e)}`;
    }
  };
  document.getElementById("run-test").onclick = async () => {
    const out = document.getElementById("test-result");
    try {
      const result = await api("POST", "/test", { rules: [current()], events: parseEvents(document.getElementById("events").value), explain: true });
      const lines = result.executions.map((x) => `<tr><td>${esc(x.rule)}</td><td class="status-${esc(x.status)}">${esc(x.status)}</td>
        <td>${esc(x.reason || "")}</td><td>${esc(JSON.stringify(x.group))}</td><td>${esc(x.at)}</td>
        <td>${(x.explain || []).map((leaf) => `<div class="${leaf.result ? "ok" : "bad"}">${esc(JSON.stringify(leaf))}</div>`).join("")}</td></tr>`);
      out.innerHTML = `<table id="test-executions"><thead><tr><th>rule</th><th>status</th><th>reason</th><th>group</th><th>at</th><th>explain</th></tr></thead>
        <tbody>${lines.join("") || '<tr><td colspan="6" class="muted">no execution</td></tr>'}</tbody></table>
        ${result.late.length ? `<p class="bad">${result.late.length} late event(s)</p>` : ""}`;
    } catch (e) {
      out.innerHTML = problems(e);
    }
  };
  if (!rule) return;
  document.getElementById("toggle").onclick = async () => {
    await api("POST", `/rules/${encodeURIComponent(rule.name)}/${rule.active ? "disable" : "enable"}`);
    route();
  };
  document.getElementById("trigger").onclick = async () => {
    const out = document.getElementById("trigger-result");
    try {
      const result = await api("POST", `/rules/${encodeURIComponent(rule.name)}/trigger`, {
        payload: parseJson(document.getElementById("payload").value, "payload"),
        dry_run: document.getElementById("dry-run").checked,
      });
      out.innerHTML = `<p>status <strong class="status-${esc(result.status)}" data-trigger-status="${esc(result.status)}">${esc(result.status)}</strong>
        ${result.reason ? `(${esc(result.reason)})` : ""} — <a href="#/executions?rule=${encodeURIComponent(rule.name)}">see the log</a></p><pre>${esc(json(result))}</pre>`;
    } catch (e) {
      out.innerHTML = problems(e);
    }
  };
  const history = await api("GET", `/rules/${encodeURIComponent(rule.name)}/history`);
  document.getElementById("history").innerHTML = `<table><tbody>${history.slice().reverse().map((h) => `<tr>
    <td>v${h.version}</td><td>${esc(h.action)}</td><td>${esc(h.changed_by)}</td><td>${when(h.at)}</td>
    <td>${h.changes.map((c) => esc(c.field)).join(", ")}</td></tr>`).join("")}</tbody></table>`;
};

pages.executions = async (_, params) => {
  const seq = navigation;
  const filters = { rule: params.get("rule") || "", status: params.get("status") || "", since: params.get("since") || "",
                    group: params.get("group") || "", chain: params.get("chain") || "" };
  const rows = await api("GET", "/executions" + query({ ...filters, limit: 200 }));
  const options = ["", "success", "fail", "dry_run", "skipped"].map((s) => `<option ${s === filters.status ? "selected" : ""} value="${s}">${s || "any status"}</option>`);
  render(seq, `<h1>Executions</h1>
    <form id="filters" class="row">
      <input name="rule" placeholder="rule" value="${esc(filters.rule)}">
      <select name="status">${options.join("")}</select>
      <input name="since" placeholder="since (1h, or ISO time)" value="${esc(filters.since)}">
      <input name="group" placeholder='group {"host":"web-1"}' value="${esc(filters.group)}">
      <input name="chain" placeholder="chain id" value="${esc(filters.chain)}">
      <button type="submit">Filter</button></form>
    <table id="executions"><thead><tr><th>time</th><th>rule</th><th>status</th><th>reason</th><th>by</th><th>group</th><th>chain</th><th></th></tr></thead>
    <tbody>${rows.map((r, i) => `<tr data-row="${i}" data-status="${esc(r.status)}" data-reason="${esc(r.reason || "")}">
      <td>${when(r.created_at)}</td><td>${esc(r.rule)}</td><td class="status-${esc(r.status)}">${esc(r.status)}</td>
      <td>${esc(r.reason || "")}</td><td>${esc(r.executed_by)}</td><td>${esc(JSON.stringify(r.group))}</td>
      <td>${r.chain_id ? `<a class="chain-link" href="#/chains/${encodeURIComponent(r.chain_id)}">chain</a>` : ""}</td>
      <td><button class="secondary silence" data-row="${i}">Silence</button> <button class="secondary details" data-row="${i}">Details</button></td></tr>
      <tr class="detail" id="detail-${i}" hidden><td colspan="8"><pre>${esc(json(r))}</pre></td></tr>`).join("")
      || '<tr><td colspan="8" class="muted">no execution</td></tr>'}</tbody></table>`);
  document.getElementById("filters").onsubmit = (event) => {
    event.preventDefault();
    location.hash = "#/executions" + query(Object.fromEntries(new FormData(event.target)));
  };
  for (const button of main.querySelectorAll("button.details")) {
    button.onclick = () => { const d = document.getElementById(`detail-${button.dataset.row}`); d.hidden = !d.hidden; };
  }
  for (const button of main.querySelectorAll("button.silence")) {
    button.onclick = () => {
      const r = rows[Number(button.dataset.row)];
      location.hash = "#/silences" + query({ rule: r.rule, group: JSON.stringify(r.group || {}) });
    };
  }
};

function treeNode(execution) {
  const actions = (execution.actions || []).map((a) => `<li>action <strong>${esc(a.type)}</strong>
      ${a.ok ? '<span class="ok">ok</span>' : '<span class="bad">failed</span>'} ${a.status_code ? esc(a.status_code) : ""}
      ${a.executions && a.executions.length ? `<ul>${a.executions.map(treeNode).join("")}</ul>` : ""}</li>`);
  return `<li data-rule="${esc(execution.rule)}">rule <strong>${esc(execution.rule)}</strong>
    <span class="status-${esc(execution.status)}">${esc(execution.status)}</span> ${esc(execution.reason || "")}
    <span class="muted">by ${esc(execution.executed_by)}</span>${actions.length ? `<ul>${actions.join("")}</ul>` : ""}</li>`;
}

pages.chain = async (id) => {
  const seq = navigation;
  const tree = await api("GET", `/chains/${encodeURIComponent(id)}`);
  const events = tree.events.map((e) => `<li>event <code>${esc(e.event_id)}</code><ul>${e.executions.map(treeNode).join("")}</ul></li>`);
  render(seq, `<h1>Chain <code>${esc(id)}</code></h1><div class="card tree" id="chain-tree"><ul>${events.join("")}</ul>
    ${tree.unlinked && tree.unlinked.length ? `<h2>Not linked</h2><ul>${tree.unlinked.map(treeNode).join("")}</ul>` : ""}</div>`);
};

pages.silences = async (_, params) => {
  const seq = navigation;
  const silences = await api("GET", "/silences");
  const end = new Date(Date.now() + 3600000);
  const local = new Date(end.getTime() - end.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  render(seq, `<h1>Silences</h1>
    <div class="card"><h2>New silence</h2><form id="silence" class="row">
      <input name="rule" placeholder="rule (empty: every rule)" value="${esc(params.get("rule") || "")}">
      <input name="group" size="30" placeholder='group {"host":"web-1"}' value="${esc(params.get("group") || "{}")}">
      <label>until <input name="ends_at" type="datetime-local" value="${local}"></label>
      <input name="comment" size="30" placeholder="why (required)">
      <button type="submit">Silence</button></form><div id="silence-problems"></div></div>
    <table id="silences"><thead><tr><th>rule</th><th>group</th><th>from</th><th>until</th><th>comment</th><th>by</th><th></th></tr></thead>
    <tbody>${silences.map((s) => `<tr data-silence="${esc(s.id)}"><td>${esc(s.rule || "every rule")}</td><td>${esc(JSON.stringify(s.group))}</td>
      <td>${when(s.starts_at)}</td><td>${when(s.ends_at)}</td><td>${esc(s.comment)}</td><td>${esc(s.created_by)}</td>
      <td><button class="secondary expire" data-id="${esc(s.id)}">Expire</button></td></tr>`).join("")
      || '<tr><td colspan="7" class="muted">no active silence</td></tr>'}</tbody></table>`);
  document.getElementById("silence").onsubmit = async (event) => {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.target));
    try {
      await api("POST", "/silences", {
        rule: form.rule || null, group: parseJson(form.group || "{}", "group"),
        ends_at: new Date(form.ends_at).toISOString(), comment: form.comment,
      });
      flash("silence created");
      if (location.hash === "#/silences") route();
      else location.hash = "#/silences";  // the hash change shows the list
    } catch (e) {
      document.getElementById("silence-problems").innerHTML = problems(e);
    }
  };
  for (const button of main.querySelectorAll("button.expire")) {
    button.onclick = async () => { await api("DELETE", `/silences/${button.dataset.id}`); route(); };
  }
};

pages["dead-letters"] = async () => {
  const seq = navigation;
  const letters = await api("GET", "/dead-letters");
  render(seq, `<h1>Dead letters</h1><div class="row"><button id="redrive">Redrive selected</button></div>
    <table id="dead-letters"><thead><tr><th></th><th>rule</th><th>action</th><th>error</th><th>failed</th><th>redrives</th></tr></thead>
    <tbody>${letters.map((d) => `<tr><td><input type="checkbox" value="${esc(d.action_id)}" ${d.delivered ? "disabled" : ""}></td>
      <td>${esc(d.rule)}</td><td>${esc((d.action || {}).type || "webhook")}</td><td>${esc(d.error)}</td>
      <td>${d.failed_at_ms ? new Date(d.failed_at_ms).toLocaleString() : ""}</td>
      <td>${d.redrives}${d.delivered ? ' <span class="ok">delivered</span>' : ""}</td></tr>`).join("")
      || '<tr><td colspan="6" class="muted">no dead letter</td></tr>'}</tbody></table><div id="redrive-result"></div>`);
  document.getElementById("redrive").onclick = async () => {
    const ids = [...main.querySelectorAll("input[type=checkbox]:checked")].map((c) => c.value);
    if (!ids.length) return flash("select dead letters first", "error");
    try {
      const result = await api("POST", "/dead-letters/redrive", { action_ids: ids });
      document.getElementById("redrive-result").innerHTML = `<pre>${esc(json(result))}</pre>`;
    } catch (e) {
      flash(e.message, "error");
    }
  };
};

pages["script-apis"] = async (ref) => {
  const seq = navigation;
  const apis = await api("GET", "/script-apis");
  const chosen = ref ? await api("GET", `/script-apis/${encodeURIComponent(ref)}?source=true`) : null;
  render(seq, `<h1>Script APIs</h1><div class="cols"><div><table id="apis"><thead><tr><th>name</th><th>version</th><th>timeout</th><th>memory</th></tr></thead>
    <tbody>${apis.map((a) => `<tr><td><a href="#/script-apis/${encodeURIComponent(a.name)}">${esc(a.name)}</a></td><td>v${a.version}</td>
      <td>${a.timeout_ms} ms</td><td>${a.memory_mb} MB</td></tr>`).join("") || '<tr><td colspan="4" class="muted">none</td></tr>'}</tbody></table></div>
    <div>${chosen ? `<div class="card"><h2>${esc(chosen.name)}</h2><pre>${esc((chosen.spec || {}).source || "")}</pre>
      <h2>Test run</h2><label>params</label><textarea id="params" rows="3">{}</textarea>
      <label>input</label><textarea id="input" rows="3">{}</textarea>
      <div class="row"><button id="run">Run</button></div><div id="run-result"></div></div>` : '<p class="muted">choose an API</p>'}</div></div>`);
  if (!chosen) return;
  document.getElementById("run").onclick = async () => {
    const out = document.getElementById("run-result");
    try {
      const result = await api("POST", `/script-apis/${encodeURIComponent(chosen.name)}/test`, {
        params: parseJson(document.getElementById("params").value, "params"),
        input: parseJson(document.getElementById("input").value, "input"),
      });
      out.innerHTML = `<h2>Output</h2><pre id="run-output">${esc(json(result.output))}</pre><h2>Logs</h2><pre>${esc((result.logs || []).join("\n"))}</pre>
        ${result.error ? `<p class="bad">${esc(result.error)}</p>` : ""}`;
    } catch (e) {
      out.innerHTML = problems(e);
    }
  };
};

// ---- routing ---------------------------------------------------------------------------------

async function who() {
  const me = await api("GET", "/me");
  document.getElementById("who").textContent = `${me.name} (${me.role})`;
  return me;
}

async function route() {
  const [path, search] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search || "");
  let page = parts[0] || "rules";
  let arg = parts[1];
  if (!sessionStorage.getItem(TOKEN_KEY)) page = "login";
  if (page === "rules" && arg) page = "rule";
  if (page === "chains") page = "chain";
  for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === parts[0]);
  navigation += 1;
  currentPage = page;
  try {
    await (pages[page] || pages.rules)(arg, params);
  } catch (e) {
    if (!(e instanceof Superseded)) flash(e.message, "error");
  }
}

window.addEventListener("hashchange", () => { flash(""); route(); });
if (sessionStorage.getItem(TOKEN_KEY)) who().catch(() => {});
route();
