// Garo console: one hand-written module, no build step, no dependency. It signs in with an
// API token kept in sessionStorage (this tab only; never in a URL or a cookie) and reads and
// writes only through the portal API (/api/v1) with that token. The DOM is built with
// createElement and textContent only: the Content-Security-Policy forbids inline script and
// turns on Trusted Types with no policy, so no string can become markup.
"use strict";

const TOKEN_KEY = "garo.token";
const REFRESH_MS = 5000; // live pages poll this often, and only while the tab is visible
const OVERVIEW_REFRESH_MS = 15000; // the overview reads up to 1000 jobs: less often

// ---- the API

class ApiError extends Error {
  constructor(status, body) {
    const e = body && body.error ? body.error : { code: "invalid_response", message: `answer ${status}` };
    super(`${status} ${e.code}: ${e.message}`);
    this.status = status;
    this.code = e.code;
    this.fields = e.fields || [];
  }
}

async function api(path, { method = "GET", body, ifMatch, contentType = "application/json" } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (ifMatch) headers["If-Match"] = ifMatch;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit", cache: "no-store" });
  const text = await res.text();
  let data;
  try { data = text ? JSON.parse(text) : undefined; } catch { data = undefined; }
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    session.who = null;
    go("#/signin");
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { status: res.status, etag: res.headers.get("ETag"), body: data };
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

const seg = encodeURIComponent;

// ---- the session: who the token is and what it may do

const session = { who: null };

function can(scope) {
  const s = session.who ? session.who.scopes : [];
  return s.includes("admin") || s.includes(scope);
}

// ---- DOM helpers (no string is ever parsed as HTML)

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function table(headers, rows, caption) {
  return h("div", { class: "scroll" },
    h("table", {},
      caption ? h("caption", { class: "skip", text: caption }) : null,
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", text: x })))),
      h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))) : h("tr", {}, h("td", { colspan: headers.length, text: "None." })))));
}

function chips(list) { return (list || []).map((x) => h("span", { class: "chip", text: x })); }
function link(href, text) { return h("a", { href, text }); }
function when(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }
function ago(iso) {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}
function until(iso) {
  if (!iso) return "-";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return "now";
  if (s < 120) return `in ${s}s`;
  if (s < 7200) return `in ${Math.round(s / 60)}m`;
  return `in ${Math.round(s / 3600)}h`;
}
function dur(ms) {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms / 60000)}m`;
}
function status(msg) { document.getElementById("status").textContent = msg; }
function errorBox(err) { return h("div", { class: "notice bad", role: "alert", text: err.message || String(err) }); }

function splitList(v) { return v.split(",").map((x) => x.trim()).filter(Boolean); }

// ---- routing and live refresh

let current = { token: 0 };

function go(hash) { if (location.hash !== hash) location.hash = hash; else route(); }

const routes = [
  [/^#\/signin$/, signIn],
  [/^#?\/?$/, overview],
  [/^#\/policies$/, policies],
  [/^#\/policies\/([^/]+)\/([^/]+)\/([^/]+)$/, policyPage],
  [/^#\/jobs$/, jobsPage],
  [/^#\/jobs\/([^/]+)\/([^/]+)\/(\d+)$/, jobPage],
  [/^#\/agents$/, agentsPage],
  [/^#\/agents\/([^/]+)$/, agentPage],
  [/^#\/audit$/, auditPage],
  [/^#\/tokens$/, tokensPage],
];

async function route() {
  const token = ++current.token;
  const hash = location.hash.split("?")[0];
  if (!sessionStorage.getItem(TOKEN_KEY) && hash !== "#/signin") return go("#/signin");
  if (sessionStorage.getItem(TOKEN_KEY) && !session.who) {
    try { session.who = (await api("/api/v1/whoami")).body; } catch (err) { if (err.status !== 401) status(err.message); return; }
  }
  renderNav(hash);
  const main = document.getElementById("main");
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  for (const [re, page] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    const view = h("div");
    main.replaceChildren(view);
    // A page returns its refresh function: called now, and every REFRESH_MS while this
    // route is shown and the tab visible.
    let refresh;
    try {
      refresh = await page(view, m.slice(1).map(decodeURIComponent), params);
    } catch (err) {
      view.append(errorBox(err));
    }
    if (refresh) live(token, refresh, page === overview ? OVERVIEW_REFRESH_MS : REFRESH_MS);
    main.focus({ preventScroll: true });
    return;
  }
  main.replaceChildren(h("h1", { text: "Not found" }), link("#/", "Overview"));
}

async function live(token, refresh, every) {
  while (token === current.token) {
    if (document.visibilityState === "visible") {
      try {
        await refresh();
        status(`Updated ${new Date().toLocaleTimeString()}`);
      } catch (err) {
        status(`Update failed: ${err.message}`);
      }
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

function renderNav(hash) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session.who) { nav.replaceChildren(); who.replaceChildren(); return; }
  const items = [["#/", "Overview", true], ["#/policies", "Policies", can("policies:read")], ["#/jobs", "Jobs", can("policies:read")],
    ["#/agents", "Agents", can("agents:read")], ["#/tokens", "Tokens", can("agents:read")], ["#/audit", "Audit", can("admin")]];
  nav.replaceChildren(...items.filter((i) => i[2]).map(([href, text]) => {
    const active = href === "#/" ? hash === "" || hash === "#/" : hash.startsWith(href);
    return h("a", { href, text, "aria-current": active ? "page" : null });
  }));
  who.replaceChildren(`${session.who.name} (${session.who.scopes.join(", ")}) `,
    h("button", { type: "button", class: "secondary", onclick: signOut, text: "Sign out" }));
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  session.who = null;
  go("#/signin");
}

// ---- pages

async function signIn(view) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const err = h("p", { id: "token-error", class: "error", role: "alert" });
  const form = h("form", { onsubmit: async (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      session.who = (await api("/api/v1/whoami")).body;
      go("#/");
    } catch (ex) {
      sessionStorage.removeItem(TOKEN_KEY);
      err.textContent = ex.status === 401 ? "This token is not valid (unknown, expired or revoked)." : ex.message;
    }
  } },
  h("div", { class: "field" }, h("label", { for: "token", text: "API token" }), input, err),
  h("button", { type: "submit", id: "signin", text: "Sign in" }));
  append(view, [h("h1", { text: "Sign in" }),
    h("p", { text: "Sign in with a Garo API token (garo_…). It stays in this tab only and is sent to this server alone. What you see and may change is what the token's scopes and owner prefixes allow." }),
    form]);
  input.focus();
}

async function overview(view) {
  const cards = h("div", { class: "cards" });
  const chart = h("div");
  const groups = h("div");
  const rates = h("div", { id: "rates" });
  append(view, [h("h1", { text: "Overview" }), cards, h("h2", { text: "Jobs received in the last hour" }), chart, groups, rates]);
  return async () => {
    const out = [card("Token", session.who.name, `scopes ${session.who.scopes.join(", ")}; ${session.who.owner_prefixes.length ? `owners ${session.who.owner_prefixes.join(", ")}` : "every owner"}`)];
    const groupRows = [];
    if (can("agents:read")) {
      const agents = (await api("/api/v1/agents")).body.items;
      const by = count(agents.map((a) => a.status));
      out.push(card("Agents", String(agents.length), ["active", "stale", "offline", "revoked"].filter((k) => by[k]).map((k) => `${by[k]} ${k}`).join(", ") || "none registered"));
      const perGroup = {};
      for (const a of agents) {
        const g = (perGroup[a.group] ||= {});
        for (const [state, n] of Object.entries(a.runners || {})) g[state] = (g[state] || 0) + n;
      }
      for (const [g, states] of Object.entries(perGroup)) groupRows.push([g, Object.entries(states).map(([k, n]) => `${n} ${k}`).join(", ") || "no runners"]);
    }
    let jobs = [];
    if (can("policies:read")) {
      const queued = (await api("/api/v1/jobs?state=queued&limit=500")).body;
      const oldest = queued.items[queued.items.length - 1];
      out.push(card("Queued jobs", `${queued.items.length}${queued.next_cursor ? "+" : ""}`, oldest ? `oldest waits since ${ago(oldest.received_at)} (${oldest.repository} #${oldest.id})` : "nothing waits"));
      const since = new Date(Date.now() - 3600_000).toISOString();
      jobs = (await api(`/api/v1/jobs${query({ since, limit: 500 })}`)).body.items;
      const waits = jobs.map(onlineAfter).filter(Number.isFinite).sort((a, b) => a - b);
      out.push(card("Jobs in the last hour", String(jobs.length), `webhook → runner online: p50 ${dur(pct(waits, 50))}, p90 ${dur(pct(waits, 90))}, p99 ${dur(pct(waits, 99))} (${waits.length} jobs)`));
    }
    // The budgets are the server's, shared by every owner: only a token without owner
    // prefixes may read them (docs/security.md).
    let budgets = null;
    if (can("agents:read") && !session.who.owner_prefixes.length) {
      const rl = (await api("/api/v1/github/rate-limit")).body;
      budgets = rl.budgets;
      out.push(rateCard(rl));
    } else {
      out.push(card("GitHub rate limit", "-", "needs agents:read and a token without owner prefixes"));
    }
    cards.replaceChildren(...out);
    rates.replaceChildren(...(budgets && budgets.length ? [h("h2", { text: "GitHub rate limit per credential" }), rateTable(budgets)] : []));
    chart.replaceChildren(can("policies:read") ? barChart(jobs) : h("p", { text: "Needs policies:read." }));
    groups.replaceChildren(...(groupRows.length ? [h("h2", { text: "Runners by agent group" }), table(["Group", "Runners"], groupRows)] : []));
  };
}

// rateCard sums up the GitHub budgets: the lowest share left of any of them.
function rateCard(rl) {
  if (rl.mode === "none") return card("GitHub rate limit", "-", "garo-server has no GitHub credentials");
  if (!rl.budgets.length) return card("GitHub rate limit", "-", "no GitHub call yet");
  const low = rl.budgets.reduce((a, b) => (b.remaining / Math.max(1, b.limit) < a.remaining / Math.max(1, a.limit) ? b : a));
  return card("GitHub rate limit", `${low.remaining} / ${low.limit}`,
    `lowest of ${rl.budgets.length} budget${rl.budgets.length === 1 ? "" : "s"}: ${low.credential} ${low.resource}, renewed ${until(low.reset_at)}`);
}

function rateTable(budgets) {
  return table(["Credential", "Resource", "Remaining", "", "Used", "Renewed"], budgets.map((b) => [b.credential, b.resource, `${b.remaining} of ${b.limit}`,
    h("meter", { min: 0, max: Math.max(1, b.limit), low: b.limit * 0.2, high: b.limit * 0.5, optimum: b.limit, value: b.remaining,
      "aria-label": `${b.credential} ${b.resource}: ${b.remaining} of ${b.limit} left` }),
    String(b.used), until(b.reset_at)]), "GitHub rate limit per credential");
}

function card(label, big, detail) {
  return h("section", { class: "card", "aria-label": label }, h("div", { class: "label", text: label }), h("div", { class: "big", text: big }), h("div", { class: "label", text: detail }));
}
function count(xs) { const m = {}; for (const x of xs) m[x] = (m[x] || 0) + 1; return m; }
function pct(sorted, p) { return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : NaN; }
function stepAt(job, step) { const e = job.timeline.find((x) => x.step === step); return e ? Date.parse(e.at) : NaN; }
function onlineAfter(job) { return stepAt(job, "runner_online") - stepAt(job, "received"); }

// barChart draws jobs received per 5 minutes over the last hour.
function barChart(jobs) {
  const now = Date.now(), bins = new Array(12).fill(0);
  for (const j of jobs) {
    const i = 11 - Math.floor((now - Date.parse(j.received_at)) / 300_000);
    if (i >= 0 && i < 12) bins[i]++;
  }
  const max = Math.max(1, ...bins), W = 600, H = 120;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H + 20}`, role: "img", "aria-label": `Jobs per 5 minutes, last hour: ${bins.join(", ")}` });
  bins.forEach((n, i) => {
    const bh = Math.round((n / max) * H), x = i * (W / 12) + 4;
    svg.append(s("rect", { class: "bar", x, y: H - bh, width: W / 12 - 8, height: bh }));
    if (n) svg.append(s("text", { x: x + 4, y: H - bh - 2 }, String(n)));
  });
  svg.append(s("text", { x: 0, y: H + 16 }, "60 min ago"), s("text", { x: W - 30, y: H + 16 }, "now"));
  return svg;
}

async function policies(view, _m, params) {
  const f = { owner: params.get("owner") || "", repository: params.get("repository") || "", agent_group: params.get("group") || "", provider: params.get("provider") || "" };
  const input = (id, label, value) => h("div", {}, h("label", { for: id, text: label }), h("input", { id, type: "text", value }));
  const providerSel = h("select", { id: "f-provider" }, ["", "docker", "kubernetes", "memory"].map((p) => h("option", { value: p, selected: p === f.provider, text: p || "any" })));
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const v = (id) => document.getElementById(id).value.trim();
    go(`#/policies${query({ owner: v("f-owner"), repository: v("f-repository"), group: v("f-group"), provider: providerSel.value })}`);
  } }, input("f-owner", "Owner", f.owner), input("f-repository", "Repository (owner/name)", f.repository), input("f-group", "Agent group", f.agent_group),
  h("div", {}, h("label", { for: "f-provider", text: "Provider" }), providerSel), h("button", { type: "submit", text: "Filter" }));
  const list = h("div");
  append(view, [h("h1", { text: "Policies" }), form, list, can("policies:write") ? createForm() : null]);
  return async () => {
    const items = [];
    let cursor;
    for (let page = 0; page < 10; page++) { // at most 5000 policies on one screen
      const r = (await api(`/api/v1/policies${query({ owner: f.owner, repository: f.repository, agent_group: f.agent_group, limit: 500, cursor })}`)).body;
      items.push(...r.items);
      if (!r.next_cursor) break;
      cursor = r.next_cursor;
    }
    const shown = items.filter((p) => !f.provider || p.provider === f.provider);
    list.replaceChildren(table(["Repository", "Policy", "Labels", "Idle / max", "Provider", "Group", "Serving"], shown.map((p) => [
      p.repository, link(`#/policies/${seg(p.repository.split("/")[0])}/${seg(p.repository.split("/")[1])}/${seg(p.name)}`, p.name), chips(p.labels),
      `${p.min_idle} / ${p.max_runners}`, p.provider, p.agent_group, servingText(p)]), "Policies"));
  };
}

// createForm creates a policy from the members without a default; the API's field errors
// appear next to their fields.
function createForm() {
  const fields = [["repository", "Repository (owner/name)"], ["name", "Name"], ["labels", "Labels (comma-separated)"], ["max_runners", "Max runners"], ["image", "Runner image"]];
  const errs = {}, inputs = {};
  const note = h("div", { role: "alert" });
  const provider = h("select", { id: "c-provider" }, ["docker", "kubernetes"].map((p) => h("option", { value: p, text: p })));
  const form = h("form", { id: "create", onsubmit: async (e) => {
    e.preventDefault();
    for (const el of Object.values(errs)) el.textContent = "";
    note.replaceChildren();
    const [owner, repo] = inputs.repository.value.trim().split("/");
    if (!owner || !repo) { errs.repository.textContent = "owner/name, such as acme/web"; return; }
    const body = { name: inputs.name.value.trim(), labels: splitList(inputs.labels.value), max_runners: Number(inputs.max_runners.value), provider: provider.value, runner: { image: inputs.image.value.trim() } };
    try {
      await api(`/api/v1/repos/${seg(owner)}/${seg(repo)}/policies`, { method: "POST", body });
      go(`#/policies/${seg(owner)}/${seg(repo)}/${seg(body.name)}`);
    } catch (err) {
      let shown = false;
      for (const f of err.fields) {
        const key = f.field.startsWith("labels") ? "labels" : f.field === "runner.image" ? "image" : f.field;
        if (errs[key]) { errs[key].textContent = f.message; shown = true; }
      }
      if (!shown || err.fields.length === 0) note.replaceChildren(errorBox(err));
    }
  } },
  fields.map(([k, label]) => {
    inputs[k] = h("input", { id: `c-${k}`, type: k === "max_runners" ? "number" : "text", required: true, "aria-describedby": `c-${k}-error` });
    errs[k] = h("p", { id: `c-${k}-error`, class: "error" });
    return h("div", { class: "field" }, h("label", { for: `c-${k}`, text: label }), inputs[k], errs[k]);
  }),
  h("div", { class: "field" }, h("label", { for: "c-provider", text: "Provider" }), provider),
  h("button", { type: "submit", text: "Create policy" }), note);
  return h("section", { "aria-label": "New policy" }, h("h2", { text: "New policy" }), form);
}

function servingText(p) {
  if (!p.serving) return "-";
  const cls = p.serving.state === "served" ? "ok" : "warn";
  return h("span", { class: cls, text: p.serving.state + (p.serving.reason ? `: ${p.serving.reason}` : "") });
}

async function policyPage(view, [owner, repo, name]) {
  const base = `/api/v1/repos/${seg(owner)}/${seg(repo)}`;
  const path = `${base}/policies/${seg(name)}`;
  let read;
  try { read = await api(path); } catch (err) { append(view, [h("h1", { text: name }), errorBox(err)]); return null; }
  const props = h("dl", { class: "props" });
  const queue = h("div"), runners = h("div", { id: "runners" }), recent = h("div"), history = h("div");
  const yamlView = h("pre", { id: "yaml", class: "yaml", tabindex: "0", "aria-label": "The policy as YAML" });
  append(view, [h("p", {}, link("#/policies", "Policies"), ` / ${owner}/${repo}`), h("h1", { text: name }), props,
    h("h2", { text: "Edit" }), editForm(path, read, (r) => { read = r; showProps(); }),
    h("h2", { text: "Queue" }), queue, h("h2", { text: "Runners" }), runners, h("h2", { text: "Recent jobs" }), recent,
    can("admin") ? h("h2", { text: "History" }) : null, history,
    h("h2", { text: "YAML" }), h("p", { text: "The policy as a document garoctl reads (garoctl apply -f, garoctl policy create -f):" }),
    yamlView]);
  function showProps() {
    const p = read.body;
    props.replaceChildren(...[["Repository", p.repository], ["Labels", chips(p.labels)], ["Idle / max runners", `${p.min_idle} / ${p.max_runners}`],
      ["Enabled", String(p.enabled)], ["Ephemeral", String(p.ephemeral)], ["Idle grace", p.idle_grace], ["Provider", p.provider], ["Image", p.runner.image],
      ["Agent group", p.agent_group], ["Serving", servingText(p)], ["Version", `${p.version} (ETag ${read.etag})`], ["Updated", when(p.updated_at)]]
      .flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
    yamlView.textContent = policyYAML(p);
  }
  showProps();
  return async () => {
    const q = (await api(`${base}/jobs${query({ policy: name, state: "queued", limit: 500 })}`)).body.items;
    // Jobs a runner is already coming for first, then the queue in order, then the rest.
    const rank = (j) => (j.agent_state === "runner_requested" ? 0 : j.queue_position ?? 1e9);
    q.sort((a, b) => rank(a) - rank(b) || Date.parse(a.received_at) - Date.parse(b.received_at));
    queue.replaceChildren(h("p", { text: `${q.length} job${q.length === 1 ? "" : "s"} waiting.` }),
      table(["Position", "Job", "Waiting since", "Why"], q.map((j) => [j.queue_position ?? "-", jobLink(j), ago(j.received_at), agentStateText(j)]), "Queue"));
    const rl = (await api(`${base}/runners${query({ policy: name })}`)).body;
    runners.replaceChildren(runnerTable(rl, ["Runner", "State", "Job", "Agent", "GitHub id", "Age", "Reason"],
      (x) => [x.name, runnerState(x), x.job_id ? String(x.job_id) : "-", agentLink(x.agent, x.agent_name), x.github_runner_id ? String(x.github_runner_id) : "-", ago(x.created_at), x.reason || "-"]));
    const r = (await api(`${base}/jobs${query({ policy: name, limit: 20 })}`)).body.items;
    recent.replaceChildren(table(["Job", "State", "Received", "Runner online after"], r.map((j) => [jobLink(j), j.state + (j.conclusion ? ` (${j.conclusion})` : ""), when(j.received_at), dur(onlineAfter(j))]), "Recent jobs"));
    if (can("admin")) {
      const ev = (await api(`/api/v1/audit-events${query({ resource_type: "policy", resource_id: `${owner}/${repo}/${name}`.toLowerCase(), limit: 20 })}`)).body.items;
      history.replaceChildren(table(["Time", "Action", "By"], ev.map((e) => [when(e.time), e.action, e.actor]), "History"));
    }
  };
}

// POLICY_FIELDS are the fields of a policy document (portal-api/garoctl/policydoc.go: kind,
// repository and the PolicyRequest's fields), in garoctl's order; a policy's other fields
// (version, serving, times) are the server's, not the document's.
const POLICY_FIELDS = ["name", "labels", "min_idle", "max_runners", "ephemeral", "idle_grace", "bootstrap_timeout", "agent_group", "enabled", "provider", "runner", "schedule"];

// policyYAML is policy p as the YAML document garoctl policy get -o yaml prints and
// garoctl apply -f and policy create -f read. Strings are double-quoted in JSON's escapes, which
// YAML reads the same way, so no value can change its meaning (a "yes", a "1", a colon).
function policyYAML(p) {
  const doc = { kind: "Policy", repository: p.repository };
  for (const k of POLICY_FIELDS) if (p[k] !== undefined && p[k] !== null) doc[k] = p[k];
  return yamlLines(doc, "").join("\n") + "\n";
}

function yamlScalar(v) { return typeof v === "string" ? JSON.stringify(v) : String(v); }
function yamlEmpty(v) { return Array.isArray(v) ? "[]" : "{}"; }
function yamlNested(v) { return v !== null && typeof v === "object" && Object.keys(v).length > 0; }

// yamlLines is object o's entries in block style, each line prefixed with ind.
function yamlLines(o, ind) {
  const out = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === null || v === undefined) continue;
    if (!yamlNested(v)) {
      out.push(`${ind}${k}: ${typeof v === "object" ? yamlEmpty(v) : yamlScalar(v)}`);
    } else if (Array.isArray(v)) {
      out.push(`${ind}${k}:`);
      for (const item of v) out.push(...yamlItem(item, ind));
    } else {
      out.push(`${ind}${k}:`, ...yamlLines(v, ind + "  "));
    }
  }
  return out;
}

// yamlItem is one list item at ind: "- value", or an object's lines under "- ".
function yamlItem(item, ind) {
  if (!yamlNested(item)) return [`${ind}- ${item !== null && typeof item === "object" ? yamlEmpty(item) : yamlScalar(item)}`];
  if (Array.isArray(item)) return [`${ind}-`, ...item.flatMap((x) => yamlItem(x, ind + "  "))];
  const lines = yamlLines(item, ind + "  ");
  lines[0] = `${ind}- ${lines[0].slice(ind.length + 2)}`;
  return lines;
}

function agentStateText(j) {
  if (!j.agent_state) return j.wait && j.wait.reason ? `waiting: ${j.wait.reason}` : "not reported by an agent yet";
  // The words say what the state is; why (a full quota, max_runners, a crash loop, GitHub's
  // refusal) is the server's own sentence: the job's wait, else the agent's reason.
  const t = { waiting_for_capacity: "waiting for capacity", runner_requested: "runner requested", backing_off: "backing off", no_agent: "no live agent serves this policy" }[j.agent_state] || j.agent_state;
  const why = (j.wait && j.wait.reason) || j.agent_reason;
  return t + (why ? `: ${why}` : "");
}

function jobLink(j) {
  const [o, r] = j.repository.split("/");
  return link(`#/jobs/${seg(o)}/${seg(r)}/${j.id}`, `${j.name} #${j.id}`);
}

function agentLink(id, name) { return can("agents:read") ? link(`#/agents/${seg(id)}`, name || id) : (name || id); }

function runnerState(x) {
  return h("span", { class: x.state === "failed" ? "bad" : x.state === "busy" || x.state === "idle" ? "ok" : "warn", text: x.state });
}

// runnerTable is a runner list with the columns cells makes, and a note when the server
// listed fewer than matched.
function runnerTable(list, headers, cells) {
  const counts = count(list.items.map((x) => x.state));
  return h("div", {}, h("p", { text: `${list.items.length} runner${list.items.length === 1 ? "" : "s"}${list.items.length ? ": " : "."}${Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ")}${list.truncated ? " (more than the server lists)" : ""}` }),
    table(headers, list.items.map(cells), "Runners"));
}

// editForm changes a policy with a merge patch under If-Match: the ETag of the read the form
// was filled from, so that a change by someone else in between is a 412, explained, and
// nothing is overwritten.
function editForm(path, read, onSaved) {
  const writable = can("policies:write");
  const p = read.body;
  const fields = {
    max_runners: ["number", "Max runners", String(p.max_runners), (v) => Number(v)],
    min_idle: ["number", "Min idle", String(p.min_idle), (v) => Number(v)],
    labels: ["text", "Labels (comma-separated)", p.labels.join(", "), splitList],
    image: ["text", "Runner image", p.runner.image, null],
  };
  const errs = {};
  const inputs = {};
  const enabled = h("input", { id: "e-enabled", type: "checkbox", checked: p.enabled, disabled: !writable });
  const note = h("div", { role: "alert" });
  const children = Object.entries(fields).map(([k, [type, label, value]]) => {
    inputs[k] = h("input", { id: `e-${k}`, name: k, type, value, disabled: !writable, "aria-describedby": `e-${k}-error` });
    errs[k] = h("p", { id: `e-${k}-error`, class: "error" });
    return h("div", { class: "field" }, h("label", { for: `e-${k}`, text: label }), inputs[k], errs[k]);
  });
  children.push(h("div", { class: "field" }, h("label", { for: "e-enabled", text: "Enabled" }), enabled));
  const save = h("button", { type: "submit", id: "e-save", disabled: !writable, text: "Save" });
  const form = h("form", { id: "edit", onsubmit: async (e) => {
    e.preventDefault();
    for (const el of Object.values(errs)) el.textContent = "";
    note.replaceChildren();
    const patch = { max_runners: Number(inputs.max_runners.value), min_idle: Number(inputs.min_idle.value), labels: splitList(inputs.labels.value), enabled: enabled.checked, runner: { image: inputs.image.value.trim() } };
    save.disabled = true;
    try {
      const r = await api(path, { method: "PATCH", body: patch, ifMatch: read.etag, contentType: "application/merge-patch+json" });
      read = r;
      onSaved(r);
      note.replaceChildren(h("p", { class: "ok", text: `Saved: version ${r.body.version}.` }));
    } catch (err) {
      if (err.status === 412) {
        note.replaceChildren(h("div", { class: "notice", id: "conflict" },
          h("p", { text: `Someone changed this policy after you opened it (you edited version ${read.body.version}). Nothing was saved. Reload to see the current version, then make your change again.` }),
          h("button", { type: "button", class: "secondary", onclick: () => route(), text: "Reload" })));
      } else if (err.status === 400 && err.fields.length) {
        for (const f of err.fields) {
          const key = f.field.startsWith("labels") ? "labels" : f.field === "runner.image" ? "image" : f.field;
          if (errs[key]) errs[key].textContent = f.message;
          else note.append(h("p", { class: "error", text: `${f.field}: ${f.message}` }));
        }
        note.append(h("p", { class: "error", text: err.message }));
      } else {
        note.replaceChildren(errorBox(err));
      }
    } finally {
      save.disabled = !writable;
    }
  } }, children, save, note);
  if (!writable) form.prepend(h("p", { class: "notice", id: "readonly", text: "Your token lacks the scope policies:write: this policy is read-only for you." }));
  return form;
}

async function jobsPage(view, _m, params) {
  const f = { owner: params.get("owner") || "", state: params.get("state") || "", policy: params.get("policy") || "" };
  const stateSel = h("select", { id: "j-state" }, ["", "queued", "waiting", "unmatched", "in_progress", "completed"].map((x) => h("option", { value: x, selected: x === f.state, text: x || "any" })));
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    go(`#/jobs${query({ owner: document.getElementById("j-owner").value.trim(), state: stateSel.value, policy: document.getElementById("j-policy").value.trim() })}`);
  } }, h("div", {}, h("label", { for: "j-owner", text: "Owner" }), h("input", { id: "j-owner", type: "text", value: f.owner })),
  h("div", {}, h("label", { for: "j-state", text: "State" }), stateSel),
  h("div", {}, h("label", { for: "j-policy", text: "Policy" }), h("input", { id: "j-policy", type: "text", value: f.policy })),
  h("button", { type: "submit", text: "Filter" }));
  const list = h("div");
  append(view, [h("h1", { text: "Jobs" }), form, list]);
  return async () => {
    const items = (await api(`/api/v1/jobs${query({ ...f, limit: 200 })}`)).body.items;
    list.replaceChildren(table(["Job", "Repository", "State", "Policy", "Agent", "Received", "Labels"], items.map((j) => [
      jobLink(j), j.repository, j.state + (j.conclusion ? ` (${j.conclusion})` : ""), j.policy || (j.unmatched_reason ? `none: ${j.unmatched_reason}` : "-"),
      j.state === "queued" ? `${j.queue_position ? `#${j.queue_position} ` : ""}${agentStateText(j)}` : "-", ago(j.received_at), chips(j.labels)]), "Jobs"));
  };
}

const STEPS = ["received", "matched", "runner_requested", "runner_online", "in_progress", "completed"];

async function jobPage(view, [owner, repo, id]) {
  const body = h("div");
  append(view, [h("p", {}, link("#/jobs", "Jobs"), ` / ${owner}/${repo}`), h("h1", { text: `Job ${id}` }), body]);
  return async () => {
    const j = (await api(`/api/v1/repos/${seg(owner)}/${seg(repo)}/jobs/${seg(id)}`)).body;
    body.replaceChildren(
      h("dl", { class: "props" }, ...[["Name", `${j.workflow_name} / ${j.name}`], ["State", j.state + (j.conclusion ? ` (${j.conclusion})` : "")], ["Policy", j.policy || j.unmatched_reason || "-"],
        ["Labels", chips(j.labels)], ["Runner", j.runner_name || "-"], ["Agent", j.state === "queued" ? agentStateText(j) : "-"],
        ["On GitHub", j.html_url ? h("a", { href: j.html_url, rel: "noreferrer", text: "open" }) : "-"]].flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)])),
      h("h2", { text: "Timeline" }), timelinePicture(j),
      table(["Step", "At", "After received"], j.timeline.map((e) => [e.step, when(e.at), dur(Date.parse(e.at) - stepAt(j, "received"))]), "Timeline"));
  };
}

// timelinePicture draws one row per step of a job: a bar from when Garo received the job
// to the step, so that where the wait went (matching, the runner's boot, GitHub's start)
// reads at a glance. Times are offsets from `received`; GitHub's `created` may precede it.
function timelinePicture(j) {
  const t0 = stepAt(j, "received");
  const events = j.timeline.map((e) => ({ step: e.step, t: Date.parse(e.at) - t0 })).filter((e) => Number.isFinite(e.t));
  const lo = Math.min(0, ...events.map((e) => e.t)), hi = Math.max(1, ...events.map((e) => e.t));
  const W = 800, L = 150, R = 90, ROW = 22;
  const x = (t) => L + ((t - lo) / (hi - lo)) * (W - L - R);
  const rows = events.length + (j.state === "completed" ? 0 : 1);
  const svg = s("svg", { class: "timeline", id: "timeline", viewBox: `0 0 ${W} ${rows * ROW + 10}`, role: "img",
    "aria-label": `Timeline: ${events.map((e) => `${e.step} at +${dur(e.t)}`).join(", ") || "no steps yet"}` });
  events.forEach((e, i) => {
    const y = i * ROW + 14;
    svg.append(s("text", { x: 0, y: y + 4 }, e.step.replaceAll("_", " ")));
    svg.append(s("line", { class: "axis", x1: x(Math.min(0, e.t)), y1: y, x2: x(Math.max(0, e.t)), y2: y }));
    svg.append(s("circle", { class: "dot", cx: x(e.t), cy: y, r: 5, "data-step": e.step }));
    svg.append(s("text", { x: x(e.t) + 9, y: y + 4 }, `${e.t < 0 ? "-" : "+"}${dur(Math.abs(e.t))}`));
  });
  if (j.state !== "completed") {
    const missing = STEPS.filter((st) => !events.some((e) => e.step === st));
    svg.append(s("text", { x: 0, y: events.length * ROW + 18 }, `not yet: ${missing.map((m) => m.replaceAll("_", " ")).join(", ")}`));
  }
  return svg;
}

async function agentsPage(view) {
  const list = h("div");
  append(view, [h("h1", { text: "Agents" }), list]);
  return async () => {
    const items = (await api("/api/v1/agents")).body.items;
    list.replaceChildren(table(["Agent", "Group", "Status", "Last seen", "Provider", "Version", "Repositories", "Runners", ""], items.map((a) => [
      link(`#/agents/${seg(a.id)}`, a.name), a.group, agentStatus(a),
      ago(a.last_seen_at), a.provider, a.version, String(a.repositories.length), runnerCounts(a),
      revokeButton(a) || ""]), "Agents"));
  };
}

function agentStatus(a) {
  return h("span", { class: a.status === "active" ? "ok" : a.status === "stale" ? "warn" : "bad", text: `${a.status}${a.draining || a.state === "draining" ? " (draining)" : ""}` });
}

// drainButton drains an agent (PUT …/drain: it takes no new work, and its repositories
// move to other agents of its group as their runners end) or lifts the request (DELETE).
// Both are undone by the other, so neither asks for confirmation.
function drainButton(a, done) {
  if (!can("agents:write") || a.status === "revoked") return null;
  const requested = Boolean(a.drain_requested_at);
  return h("button", { type: "button", id: "drain", class: "secondary", text: requested ? "Undrain" : "Drain",
    "aria-label": `${requested ? "Undrain" : "Drain"} agent ${a.name}`, onclick: async (e) => {
      e.currentTarget.disabled = true;
      try { await api(`/api/v1/agents/${seg(a.id)}/drain`, { method: requested ? "DELETE" : "PUT" }); await done(); } catch (err) { status(err.message); }
    } });
}

function drainText(a) {
  if (a.drain_requested_at) return `requested by ${a.drain_requested_by || "-"} ${ago(a.drain_requested_at)}: it takes no new work, and its repositories move to another live agent of ${a.group}, if there is one, as their runners end`;
  return a.draining ? "stopping: it drains as it shuts down" : "no";
}
function runnerCounts(a) { return Object.entries(a.runners || {}).map(([k, n]) => `${n} ${k}`).join(", ") || "-"; }

function revokeButton(a) {
  if (!can("agents:write") || a.status === "revoked") return null;
  return h("button", { type: "button", class: "secondary", text: "Revoke", "aria-label": `Revoke agent ${a.name}`, onclick: async () => {
    if (!confirm(`Revoke agent ${a.name}? It stops at its next call and must register again.`)) return;
    try { await api(`/api/v1/agents/${seg(a.id)}`, { method: "DELETE" }); route(); } catch (err) { status(err.message); }
  } });
}

// agentPage is one agent: its settings, the repositories it serves and its runners (the
// runner list needs policies:read, and shows only the repositories the token reaches).
async function agentPage(view, [id]) {
  const props = h("dl", { class: "props" }), actions = h("div", { class: "actions" }), runners = h("div", { id: "runners" });
  const heading = h("h1", { text: id });
  append(view, [h("p", {}, link("#/agents", "Agents"), " / agent"), heading, actions, props, h("h2", { text: "Runners" }), runners]);
  const refresh = async () => {
    const a = (await api(`/api/v1/agents/${seg(id)}`)).body;
    heading.textContent = a.name;
    props.replaceChildren(...[["ID", a.id], ["Group", a.group], ["Status", agentStatus(a)], ["Last seen", `${ago(a.last_seen_at)} (${when(a.last_seen_at)})`],
      ["Provider", a.provider], ["Version", a.version], ["Registered", when(a.registered_at)], ["Draining", h("span", { id: "draining", text: drainText(a) })],
      ["Repositories", a.repositories.length ? chips(a.repositories) : "none"],
      ["Runners", runnerCounts(a)]].flatMap(([k, v]) => [h("dt", { text: k }), h("dd", {}, v)]));
    actions.replaceChildren(...[drainButton(a, refresh), revokeButton(a)].filter(Boolean));
    if (!can("policies:read")) {
      runners.replaceChildren(h("p", { text: "Listing the runners needs policies:read." }));
      return;
    }
    const rl = (await api(`/api/v1/runners${query({ agent: a.id })}`)).body;
    runners.replaceChildren(runnerTable(rl, ["Runner", "Repository", "Policy", "State", "Job", "GitHub id", "Age", "Reason"], (x) => {
      const [o, r] = x.repository.split("/");
      return [x.name, x.repository, can("policies:read") ? link(`#/policies/${seg(o)}/${seg(r)}/${seg(x.policy)}`, x.policy) : x.policy, runnerState(x),
        x.job_id ? String(x.job_id) : "-", x.github_runner_id ? String(x.github_runner_id) : "-", ago(x.created_at), x.reason || "-"];
    }));
  };
  return refresh;
}

async function auditPage(view, _m, params) {
  const f = { action: params.get("action") || "", repository: params.get("repository") || "", actor: params.get("actor") || "" };
  const form = h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const v = (id) => document.getElementById(id).value.trim();
    go(`#/audit${query({ action: v("a-action"), repository: v("a-repository"), actor: v("a-actor") })}`);
  } }, ...[["a-action", "Action (policy.patch…)", f.action], ["a-repository", "Repository", f.repository], ["a-actor", "Actor", f.actor]]
    .map(([id, label, value]) => h("div", {}, h("label", { for: id, text: label }), h("input", { id, type: "text", value }))), h("button", { type: "submit", text: "Filter" }));
  const list = h("div");
  append(view, [h("h1", { text: "Audit trail" }), form, list]);
  return async () => {
    const items = (await api(`/api/v1/audit-events${query({ ...f, limit: 100 })}`)).body.items;
    list.replaceChildren(table(["Time", "Action", "Resource", "By", "Request"], items.map((e) => [when(e.time), e.action, `${e.resource_type} ${e.resource_id}`, e.actor, e.request_id || "-"]), "Audit events"));
  };
}

const SCOPES = ["policies:read", "policies:write", "agents:read", "agents:write", "admin"];

// secretBox shows a secret the server returns once, with a button that copies it.
function secretBox(id, what, secret) {
  const code = h("code", { id: `${id}-secret`, text: secret });
  return h("div", { class: "notice", id, role: "alert" },
    h("p", { text: `${what}. Copy it now: it is shown this once and never again.` }), code, " ",
    h("button", { type: "button", class: "secondary", text: "Copy", onclick: () => navigator.clipboard && navigator.clipboard.writeText(secret) }));
}

// tokensPage: API tokens (admin) and the registration tokens of agent groups (agents:read;
// creating and withdrawing them needs agents:write). Secrets appear once, when created.
async function tokensPage(view) {
  const apiList = h("div"), regList = h("div"), apiNote = h("div"), regNote = h("div");
  append(view, [h("h1", { text: "Tokens" })]);
  if (can("admin")) {
    const scopeBoxes = SCOPES.map((sc) => h("label", {}, h("input", { type: "checkbox", value: sc, name: "scope", id: `t-scope-${sc.replace(":", "-")}` }), ` ${sc}`));
    const err = h("p", { class: "error", id: "t-error" });
    const form = h("form", { id: "t-create", onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = "";
      const v = (id) => document.getElementById(id).value.trim();
      const body = { name: v("t-name"), scopes: scopeBoxes.map((l) => l.firstChild).filter((c) => c.checked).map((c) => c.value) };
      if (v("t-owners")) body.owner_prefixes = splitList(v("t-owners"));
      if (v("t-expires")) body.expires_in = v("t-expires");
      try {
        const r = (await api("/api/v1/tokens", { method: "POST", body })).body;
        apiNote.replaceChildren(secretBox("t-created", `Token ${r.name} created`, r.token));
        form.reset();
        await refresh();
      } catch (ex) {
        err.textContent = ex.fields.length ? ex.fields.map((f) => `${f.field}: ${f.message}`).join("; ") : ex.message;
      }
    } },
    h("div", { class: "field" }, h("label", { for: "t-name", text: "Name" }), h("input", { id: "t-name", type: "text", required: true })),
    h("fieldset", {}, h("legend", { text: "Scopes" }), scopeBoxes),
    h("div", { class: "field" }, h("label", { for: "t-owners", text: "Owner prefixes (comma-separated; empty: every owner)" }), h("input", { id: "t-owners", type: "text" })),
    h("div", { class: "field" }, h("label", { for: "t-expires", text: "Expires in (e.g. 2160h; empty: never)" }), h("input", { id: "t-expires", type: "text" })),
    h("button", { type: "submit", text: "Create token" }), err);
    append(view, [h("h2", { text: "API tokens" }), apiNote, apiList, h("h3", { text: "New API token" }), form]);
  }
  const groupSel = h("select", { id: "r-group" });
  const regForm = h("form", { id: "r-create", class: "filters", onsubmit: async (e) => {
    e.preventDefault();
    const body = { uses: Number(document.getElementById("r-uses").value) || 1, expires_in: document.getElementById("r-expires").value.trim() || "1h" };
    try {
      const r = (await api(`/api/v1/agent-groups/${seg(groupSel.value)}/registration-tokens`, { method: "POST", body })).body;
      regNote.replaceChildren(secretBox("r-created", `Registration token for ${r.group} (${r.uses_left} uses, until ${when(r.expires_at)})`, r.token));
      await refresh();
    } catch (ex) { regNote.replaceChildren(errorBox(ex)); }
  } }, h("div", {}, h("label", { for: "r-group", text: "Agent group" }), groupSel),
  h("div", {}, h("label", { for: "r-uses", text: "Uses" }), h("input", { id: "r-uses", type: "number", min: 1, value: "1" })),
  h("div", {}, h("label", { for: "r-expires", text: "Expires in" }), h("input", { id: "r-expires", type: "text", value: "1h" })),
  h("button", { type: "submit", text: "Create registration token", disabled: !can("agents:write") }));
  append(view, [h("h2", { text: "Registration tokens of agent groups" }), regNote, regList, can("agents:write") ? regForm : h("p", { text: "Creating registration tokens needs agents:write." })]);

  const del = (path, what) => h("button", { type: "button", class: "secondary", text: "Withdraw", "aria-label": `Withdraw ${what}`, onclick: async () => {
    if (!confirm(`Withdraw ${what}? Whoever holds it can no longer use it.`)) return;
    try { await api(path, { method: "DELETE" }); await refresh(); } catch (ex) { status(ex.message); }
  } });
  async function refresh() {
    if (can("admin")) {
      const items = (await api("/api/v1/tokens")).body.items;
      apiList.replaceChildren(table(["Name", "Scopes", "Owners", "Created", "Expires", ""], items.map((t) => [t.name, chips(t.scopes), t.owner_prefixes.length ? chips(t.owner_prefixes) : "every owner",
        `${when(t.created_at)} by ${t.created_by}`, t.expires_at ? when(t.expires_at) : "never", t.id === session.who.token_id ? "this token" : del(`/api/v1/tokens/${seg(t.id)}`, `token ${t.name}`)]), "API tokens"));
    }
    const groups = (await api("/api/v1/agent-groups")).body.items;
    const chosen = groupSel.value;
    groupSel.replaceChildren(...groups.map((g) => h("option", { value: g.name, selected: g.name === chosen, text: g.name })));
    const rows = [];
    for (const g of groups) {
      for (const r of (await api(`/api/v1/agent-groups/${seg(g.name)}/registration-tokens`)).body.items) {
        rows.push([g.name, r.description || "-", String(r.uses_left), when(r.expires_at), r.created_by,
          can("agents:write") ? del(`/api/v1/agent-groups/${seg(g.name)}/registration-tokens/${seg(r.id)}`, `registration token ${r.id}`) : ""]);
      }
    }
    regList.replaceChildren(table(["Group", "Description", "Uses left", "Expires", "Created by", ""], rows, "Registration tokens"));
  }
  await refresh();
  return null; // not live: a form being filled must not be redrawn under the user
}

// A blocked load or script is a defect of the console: say so where the tests look.
document.addEventListener("securitypolicyviolation", (e) => console.error(`csp violation: ${e.violatedDirective} ${e.blockedURI}`));
window.addEventListener("hashchange", route);
route();
