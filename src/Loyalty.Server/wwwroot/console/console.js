(() => {
  const $ = id => document.getElementById(id);
  const field = name => document.querySelector(`[data-field="${name}"]`);
  const text = (el, value) => { el.textContent = value; };
  // Errors are announced at once (alert); progress politely (status).
  const status = (message, error) => { const s = $("status"); s.textContent = message; s.className = error ? "status error" : "status"; s.setAttribute("role", error ? "alert" : "status"); };
  const key = () => sessionStorage.getItem("loyalty-key") || "";
  const unreachable = "The engine is unreachable. Check that it is running and try again.";
  const SOURCES = ["shop", "game", "support", "profile"];
  const COLORS = { shop: "#c2410c", game: "#6d28d9", support: "#0b6bcb", profile: "#0f766e" };
  const VIEWS = ["customer", "program", "live", "webhooks", "liability"];
  let session = null, program = null, current = "", view = "customer", liveTimer = 0, lookups = 0, reports = 0;

  // Every call carries the key; a fetch failure is "unreachable", never a silent empty page.
  async function api(path, options = {}) {
    const headers = { "x-api-key": key(), ...(options.body ? { "content-type": "application/json" } : {}) };
    try {
      return await fetch(`api/${path}`, { cache: "no-store", ...options, headers });
    } catch {
      return null;
    }
  }

  // The views this key may open (the session says; the API refuses the rest anyway), and the one to start on.
  const offered = () => (session && session.views) || VIEWS;
  const home = () => offered().includes("customer") ? "customer" : offered()[0];

  function show(next) {
    if (!offered().includes(next)) next = home();
    view = next;
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== next;
    for (const b of document.querySelectorAll("nav button")) b.setAttribute("aria-current", b.dataset.view === next ? "page" : "false");
    clearTimeout(liveTimer);
    if (next === "program") loadProgram(true);   // fresh on every visit: a publish shows at once
    if (next === "live") loadLive();
    if (next === "webhooks") loadWebhooks();
    if (next === "liability") loadLiability();
    if (next === "customer") status(current ? `Customer ${current}` : "Enter a customer id to see their loyalty context.");
    const hash = next === "customer" ? (current ? `#customer=${encodeURIComponent(current)}` : "") : `#${next}`;
    history.replaceState(null, "", hash || location.pathname);
  }

  async function signIn(candidate) {
    sessionStorage.setItem("loyalty-key", candidate);
    status("Signing in…");
    const response = await api("session");
    if (!response) { status(unreachable, true); return false; }
    if (!response.ok) {
      sessionStorage.removeItem("loyalty-key");
      status(`Sign-in refused: your API key was refused (${await response.text()}).`, true);
      return false;
    }
    const answer = await response.json();
    if (answer.views && !answer.views.length) {
      sessionStorage.removeItem("loyalty-key");
      status(`Sign-in refused: the key '${answer.id}' opens none of the console's views (support needs customers:read, finance reports:read, operators customers:admin or programs:admin).`, true);
      return false;
    }
    session = answer;
    text(field("signed-in-as"), session.id);
    for (const b of document.querySelectorAll("nav button")) b.hidden = !offered().includes(b.dataset.view);
    $("signin").hidden = true; $("tabs").hidden = false; $("who").hidden = false;
    const can = what => session.may.includes(what);
    for (const [form, what, label] of [["resolve", "resolve", "ingest:support"], ["goodwill", "goodwill", "customers:care"], ["adjust", "adjust", "customers:care"]]) {
      for (const el of $(form).elements) el.disabled = !can(what);
      $(`${form}-result`).textContent = can(what) ? "" : `Your key cannot do this (it needs ${label}).`;
    }
    const cap = session.careMaxAdjustPoints;
    $("adjust-points").min = cap ? -cap : ""; $("adjust-points").max = cap ? cap : "";
    $("adjust-points").title = cap ? `at most ±${cap} points per adjustment with your key` : "";
    return true;
  }

  // Signing out leaves nothing of the last customer or key behind for whoever signs in next.
  function signOut() {
    sessionStorage.removeItem("loyalty-key");
    session = null; program = null; current = ""; lookups++;
    clearTimeout(liveTimer);
    applied.clear();
    $("customer-view").hidden = true;
    for (const form of ["find", "resolve", "goodwill", "adjust"]) $(form).reset();
    for (const out of ["resolve-result", "goodwill-result", "adjust-result"]) $(out).textContent = "";
    for (const v of VIEWS) $(`view-${v}`).hidden = true;
    reports++; $("liability-range").reset(); clearLiability();
    $("tabs").hidden = true; $("who").hidden = true; $("signin").hidden = false;
    history.replaceState(null, "", location.pathname);
    status("Signed out. Sign in with your API key.");
    $("key").focus();
  }

  // Only the latest lookup may draw: a slow answer for the previous customer never shows under the current one.
  async function lookup(id) {
    const mine = ++lookups;
    if (id !== current) { $("customer-view").hidden = true; newActionIds(); }
    current = id;
    history.replaceState(null, "", `#customer=${encodeURIComponent(id)}`);
    status(`Looking up ${id}…`);
    const response = await api(`customers/${encodeURIComponent(id)}`);
    if (mine !== lookups) return;
    if (!response) { $("customer-view").hidden = true; status(unreachable, true); return; }
    if (response.status !== 200) $("customer-view").hidden = true;
    if (response.status === 401 || response.status === 403) { status("Your API key was refused (" + await response.text() + ").", true); return; }
    if (response.status === 404) { status(`Customer '${id}' was not found.`, true); return; }
    if (!response.ok) { status(`The engine answered ${response.status}: ${await response.text()}`, true); return; }
    const customer = await response.json();
    if (mine !== lookups) return;
    render(customer);
    status(`Customer ${id}`);
  }

  const list = (id, items, line, empty) => {
    const ul = $(id); ul.textContent = "";
    for (const i of items) { const li = document.createElement("li"); line(li, i); ul.appendChild(li); }
    if (!items.length && empty) { const li = document.createElement("li"); li.className = "muted"; li.textContent = empty; ul.appendChild(li); }
  };
  const span = (parent, cls, value) => { const s = document.createElement("span"); if (cls) s.className = cls; s.textContent = value; parent.appendChild(s); return s; };

  function render(c) {
    const s = c.view.summary, t = c.view.tierProgress;
    text(field("points-available"), s.pointsAvailable);
    text(field("points-pending"), s.pointsPending);
    text(field("points-lifetime"), s.pointsLifetime);
    text(field("tier"), t.currentTier);
    const goal = t.qualifyingPoints + t.pointsToNextTier;
    $("tier-bar").style.width = t.nextTier ? `${Math.min(100, Math.round(100 * t.qualifyingPoints / Math.max(1, goal)))}%` : "100%";
    text(field("tier-progress"), t.nextTier ? `${t.pointsToNextTier} more qualifying points for ${t.nextTier} (${t.windowDays} days)` : "top tier");
    $("expiring").textContent = (c.view.expiring || []).map(e => `${e.points} points expire ${new Date(e.at).toLocaleDateString()}`).join(" · ");
    const perks = $("perks"); perks.textContent = "";
    for (const p of c.view.perks || []) {
      const green = p.name === "priority_human_support";
      span(perks, green ? "badge green" : "badge", green ? `Green channel: priority human support (rule ${p.rule})` : `${p.name} (rule ${p.rule})`);
    }
    if (!perks.childNodes.length) perks.textContent = "none";
    const affinity = $("affinity"); affinity.textContent = "";
    for (const a of c.view.affinity || []) {
      const row = document.createElement("div");
      const head = document.createElement("div"); head.className = "row";
      span(head, "", a.category); span(head, "muted", `${Math.round(a.spendShare * 100)}%`);
      const bar = document.createElement("div"); bar.className = "bar";
      span(bar, "", "").style.width = `${Math.round(a.spendShare * 100)}%`;
      row.append(head, bar); affinity.appendChild(row);
    }
    if (!affinity.childNodes.length) affinity.textContent = "no purchases yet";
    list("timeline", c.interactions, (li, i) => {
      const family = /purchase|refund/.test(i.kind) ? "shop" : /support/.test(i.kind) ? "support" : /profile/.test(i.kind) ? "profile" : "game";
      span(li, `src-${family}`, i.kind.replace("_", " ")); li.append(" ");
      span(li, "", i.text); li.append(" ");
      span(li, "muted", `${new Date(i.at).toLocaleString()}${i.d ? ` · ${i.d > 0 ? "+" : ""}${i.d} points` : ""}`);
    }, "no interactions yet");
    list("rewards", c.view.rewards || [], (li, r) => {
      li.textContent = `${r.text} — ${r.code}${r.rule === "goodwill" ? " (goodwill)" : ""}${r.revoked ? " (revoked)" : r.used ? " (used)" : ""}`;
      li.dataset.reward = r.reward;
    }, "none yet");
    const e = c.eligibility || { rewards: [], nearMisses: [] };
    list("eligible", e.rewards, (li, r) => {
      li.dataset.reward = r.rewardId;
      span(li, "", `${r.description || r.rewardId} · ${r.pointsPrice} points `);
      span(li, r.redeemableNow ? "ok" : "miss", r.redeemableNow ? "redeemable now" : `${r.pointsMissing} points missing`);
    }, "nothing in the catalogue can be bought with points");
    list("near-misses", e.nearMisses, (li, m) => {
      li.dataset.rule = m.ruleId;
      span(li, "", m.description || m.ruleId); li.append(" ");
      span(li, "miss", `— ${m.missing}`);
    }, "no rule is close");
    $("customer-view").hidden = false;
  }

  // One action id per form: a double submit (or a retry after "unreachable") is the same operation, applied once. The
  // id changes when the form is edited, when the customer changes and after a refusal, but not after an answer: a
  // person's double click takes longer than the engine's answer, so its second click often lands after the first answer
  // and must still be the same operation. To do the same thing again on purpose, edit the form. A resolution is keyed
  // by its case on the server instead. A DUPLICATE answer to an operation this page saw applied keeps that answer on
  // screen and adds that the repeat changed nothing; an answer for another customer is not shown.
  const applied = new Map(), actionIds = {};
  const newActionIds = () => { for (const form of ["goodwill", "adjust"]) actionIds[form] = crypto.randomUUID(); };
  newActionIds();
  function action(form, path, body, describe, keyOf) {
    $(form).addEventListener("input", () => { actionIds[form] = crypto.randomUUID(); });
    $(form).addEventListener("submit", async ev => {
      ev.preventDefault();
      const customer = current, out = $(`${form}-result`), sent = { actionId: actionIds[form], ...body() };
      const key = `${form}/${customer}/${keyOf ? keyOf(sent) : sent.actionId}`;
      const response = await api(`customers/${encodeURIComponent(customer)}/${path}`, { method: "POST", body: JSON.stringify(sent) });
      if (customer !== current) return;
      if (!response) { out.textContent = "The engine is unreachable; nothing was recorded. Try again (it will not count twice)."; return; }
      if (!response.ok) { out.textContent = `Not done: ${await response.text()}`; if (response.status !== 503 && actionIds[form] === sent.actionId) actionIds[form] = crypto.randomUUID(); return; }
      const result = await response.json();
      if (customer !== current) return;
      const outcome = String(result.outcome).toLowerCase();
      if (outcome === "applied") applied.set(key, describe(result));
      out.textContent = outcome === "duplicate" && applied.has(key) ? `${applied.get(key)} (submitted again: nothing changed)` : describe(result);
      lookup(customer);
    });
  }
  const signed = n => `${n >= 0 ? "+" : ""}${n}`;
  const said = outcome => { const o = String(outcome).toLowerCase(); return o.charAt(0).toUpperCase() + o.slice(1); };   // events and care actions alike
  action("resolve", "cases", () => ({ caseId: $("case-id").value.trim(), satisfaction: $("satisfaction").value ? Number($("satisfaction").value) : null }), r => {
    const rewards = (r.rewards || []).map(x => `${x.text} (${x.code})`).join(", ");
    return String(r.outcome).toLowerCase() === "duplicate" ? "This case's resolution was already recorded; nothing changed."
      : `${said(r.outcome)}: ${signed(r.pointsDelta)} points${rewards ? "; unlocked " + rewards : ""}`;
  }, sent => sent.caseId);
  action("goodwill", "goodwill", () => ({ rewardId: $("goodwill-reward").value, reason: $("goodwill-reason").value.trim() }),
    r => `${said(r.outcome)}: ${r.reward ? `${r.reward.text} (${r.reward.code})` : "no reward"}`);
  action("adjust", "adjustments", () => ({ points: Number($("adjust-points").value), reason: $("adjust-reason").value.trim() }),
    r => `${said(r.outcome)}: ${signed(r.pointsDelta)} points`);

  // Program: read at sign-in and on every visit to the Program view.
  const words = k => k.replace(/([A-Z])/g, " $1").toLowerCase();
  const value = v => Array.isArray(v) ? v.map(value).join(", ") : v && typeof v === "object"
    ? Object.entries(v).map(([k, x]) => `${words(k)} ${value(x)}`).join(", ") : String(v);
  const money = minor => `${(minor / (program.definition.minorUnitsPerUnit || 100)).toFixed(2)} ${program.definition.currency || ""}`.trim();
  // The common conditions and actions read as sentences; anything else falls back to its words and values.
  const phrases = {
    categoryShareAtLeast: v => `${v.category} is at least ${Math.round(v.share * 100)} % of spend over ${v.days} days`,
    orderValueAtLeast: v => `the order is worth at least ${money(v)}`,
    grantPerk: v => `grant the perk ${v.perk}${v.days ? ` for ${v.days} days` : " (permanently)"}`,
    grantCurrencyPerMinuteTimesDifficulty: v => `grant ${v.reward}: ${v.perMinuteTimesDifficulty} per minute × difficulty`,
    addPoints: v => `add ${v} points`,
    grantReward: v => `grant ${rewardText(v)}`,
  };
  function condition(c) {
    if (!c || typeof c !== "object") return String(c);
    return Object.entries(c).map(([k, v]) =>
      k === "all" ? v.map(condition).join(" and ")
      : k === "any" ? `(${v.map(condition).join(" or ")})`
      : k === "not" ? `not (${condition(v)})`
      : phrases[k] ? phrases[k](v) : `${words(k)} ${value(v)}`).join(" and ");
  }
  const limits = l => [
    l.maxPerCustomer ? `at most ${l.maxPerCustomer} per customer${l.periodDays ? ` per ${l.periodDays} days` : ""}` : "",
    l.cooldownHours ? `${l.cooldownHours} h between grants` : "",
    l.budget ? `campaign budget ${value(l.budget)}` : "",
    ...Object.entries(l).filter(([k]) => !["maxPerCustomer", "periodDays", "cooldownHours", "budget"].includes(k)).map(([k, v]) => `${words(k)} ${value(v)}`),
  ].filter(Boolean).join("; ");
  const rewardText = id => { const r = (program.definition.rewards || []).find(x => x.id === id); return r ? `${id} (${r.description})` : id; };
  const act = a => Object.entries(a).map(([k, v]) => phrases[k] ? phrases[k](v) : `${words(k)} ${value(v)}`).join("; ");

  async function loadProgram(force) {
    if (program && !force) { renderProgram(); return; }
    status("Loading the program…");
    const response = await api("program");
    if (!response) { status(unreachable, true); return; }
    if (!response.ok) { status(`The engine answered ${response.status}: ${await response.text()}`, true); return; }
    program = await response.json();
    fillCatalogue();
    if (view === "program") renderProgram();
  }

  function fillCatalogue() {
    const select = $("goodwill-reward"); select.textContent = "";
    for (const r of program.definition.rewards || []) {
      const o = document.createElement("option"); o.value = r.id; o.textContent = `${r.description || r.id} (${r.id})`; select.appendChild(o);
    }
  }

  function renderProgram() {
    const d = program.definition;
    text(field("program-name"), d.name || d.id);
    text(field("program-version"), program.version);
    text(field("program-facts"), `${d.id} · currency ${d.currency} · time zone ${d.timeZone || "UTC"}`);
    const earning = [];
    const e = d.earning || {};
    if (e.purchase) earning.push(`Purchases: ${e.purchase.pointsPerCurrencyUnit} point(s) per ${d.currency}` +
      (e.purchase.categoryMultipliers ? `; ${Object.entries(e.purchase.categoryMultipliers).map(([c, m]) => `${c} ×${m}`).join(", ")}` : ""));
    if (e.gameSession) earning.push(`Play: ${e.gameSession.pointsPerMinute} point(s) per minute × difficulty (up to ${e.gameSession.maxDifficulty})`);
    if (e.matchResult) earning.push(`Matches: ${(e.matchResult.rankBonuses || []).map(b => `rank ≤ ${b.maxRank}: ${b.points}`).join(", ")}`);
    if (e.achievement) earning.push(`Achievements: ${e.achievement.defaultPoints} points each` +
      (e.achievement.points ? ` (${Object.entries(e.achievement.points).map(([a, p]) => `${a} ${p}`).join(", ")})` : ""));
    if (e.support) earning.push(`Support: ${e.support.resolvedByHuman} points when a human resolves a case, ${e.support.resolvedByBot} by a bot`);
    const pts = d.points || {}, expiry = pts.expiry || {};
    const expires = { rolling: `${expiry.months} months after the day they are earned`,
      endOfMonth: `at the end of the month ${expiry.months || 0} month(s) after they are earned`,
      endOfYear: `at the end of the year ${expiry.years || 0} year(s) after they are earned` }[expiry.policy];
    earning.push(`Points ${expires ? `expire ${expires}` : "never expire"}${pts.pendingDays ? `; purchase points are pending for ${pts.pendingDays} days` : ""}`);
    list("earning", earning, (li, x) => { li.textContent = x; }, "no base earning");
    const tiers = $("tiers"); tiers.textContent = "";
    for (const t of (d.tiers && d.tiers.levels) || []) {
      const tr = document.createElement("tr");
      for (const cell of [t.name, t.qualifyingPoints, `×${t.earnMultiplier}`]) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
      tr.dataset.tier = t.name; tiers.appendChild(tr);
    }
    text(field("tier-window"), d.tiers ? `Qualifying points count over ${d.tiers.qualifyingWindowDays} days.` : "");
    list("rules", d.rules || [], (li, r) => {
      li.className = "rule"; li.dataset.rule = r.id;
      const h = document.createElement("h3"); h.textContent = r.description || r.id; li.appendChild(h);
      const dl = document.createElement("dl");
      const add = (label, value) => { if (!value) return; const dt = document.createElement("dt"); dt.textContent = label; const dd = document.createElement("dd"); dd.textContent = value; dl.append(dt, dd); };
      add("Rule", r.id);
      add("When", (r.when || []).map(w => w.replace("_", " ")).join(", "));
      add("If", r.if ? condition(r.if) : "always");
      add("Then", (r.then || []).map(act).join("; "));
      add("Limits", r.limits ? limits(r.limits) : "");
      add("Active", r.activeFrom || r.activeUntil ? `${r.activeFrom || "…"} to ${r.activeUntil || "…"}` : "");
      li.appendChild(dl);
    }, "no rules");
    const catalogue = $("catalogue"); catalogue.textContent = "";
    for (const r of d.rewards || []) {
      const kind = r.coupon ? "coupon" : r.gameItem ? "game item" : r.currency ? "game currency" : "perk";
      const tr = document.createElement("tr"); tr.dataset.reward = r.id;
      for (const cell of [r.id, r.description || "", kind, r.pointsPrice ?? "—"]) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
      catalogue.appendChild(tr);
    }
    status(`Program ${d.name || d.id}, version ${program.version}`);
  }

  // A view that polls while it is open: the next call starts `every` ms after an answer (never two in flight); an
  // unreachable engine or an error is said and tried again; a refused key stops it.
  async function poll(name, path, every, refused, render) {
    clearTimeout(liveTimer);
    const response = await api(path);
    if (view !== name || !session) return;
    const again = () => { clearTimeout(liveTimer); liveTimer = setTimeout(() => poll(name, path, every, refused, render), every); };
    if (!response) { status(unreachable, true); again(); return; }
    if (response.status === 401 || response.status === 403) { status(`${refused} (${await response.text()}).`, true); return; }
    if (!response.ok) { status(`The engine answered ${response.status}: ${await response.text()}`, true); again(); return; }
    const body = await response.json();
    again();
    render(body);
  }

  // Live: polled every 2 s while the tab is open; drawn as inline SVG (no chart library, nothing fetched).
  const loadLive = () => poll("live", "live?seconds=120&minutes=30", 2000, "Your API key was refused", renderLive);
  function renderLive(live) {
    const total = s => SOURCES.reduce((n, k) => n + s[k], 0);
    // Other silos report every few seconds: the newest seconds are only complete once every report is in.
    const settled = live.seconds.slice(0, -(live.activeSilos > 1 ? live.reportSeconds + 2 : 1));
    const last10 = settled.slice(-10);
    text(field("live-rate"), (last10.reduce((n, s) => n + total(s), 0) / Math.max(1, last10.length)).toFixed(1));
    text(field("live-events"), live.seconds.reduce((n, s) => n + total(s), 0));
    text(field("live-by-source"), SOURCES.map(k => `${k} ${live.seconds.reduce((n, s) => n + s[k], 0)}`).join(" · "));
    text(field("live-rewards-minute"), live.minutes[live.minutes.length - 1].rewards);
    text(field("live-rewards"), live.minutes.reduce((n, m) => n + m.rewards, 0));
    text(field("live-silo"), `${live.activeSilos} silo(s) reporting${live.complete ? "" : " (the other silos' counts are unavailable: this silo only)"}; updated ${new Date(live.now).toLocaleTimeString()}.`);
    lines($("events-chart"), settled, SOURCES);
    bars($("rewards-chart"), live.minutes);
    $("events-chart").setAttribute("aria-label", `Events per second by source, last two minutes: ${field("live-by-source").textContent}`);
    $("rewards-chart").setAttribute("aria-label", `Rewards granted per minute, last thirty minutes: ${field("live-rewards").textContent} in all, ${field("live-rewards-minute").textContent} this minute`);
    status("Live: updates every 2 seconds.");
  }

  // Webhooks: each endpoint's deliveries across the cluster, polled every 5 s while open.
  const age = at => { const s = Math.max(0, (Date.now() - new Date(at)) / 1000); return s < 90 ? `${s.toFixed(0)} s` : s < 5400 ? `${(s / 60).toFixed(0)} min` : `${(s / 3600).toFixed(1)} h`; };
  const loadWebhooks = () => poll("webhooks", "webhooks", 5000, "Webhook status needs an operator's key", renderWebhooks);
  function renderWebhooks({ endpoints }) {
    const rows = $("webhooks");
    rows.textContent = "";
    for (const e of endpoints) {
      const tr = document.createElement("tr"); tr.dataset.endpoint = e.name;
      const cells = [e.name, e.url, e.kinds.length ? e.kinds.join(", ") : "all", e.delivered, e.failed, e.pending, e.retrying,
        e.oldestUndelivered ? age(e.oldestUndelivered) : "—", e.lastError ? `${e.lastError} (${age(e.lastErrorAt)} ago)` : "—"];
      for (const cell of cells) { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); }
      rows.appendChild(tr);
    }
    status(endpoints.length ? `Webhooks: ${endpoints.length} endpoint(s); updates every 5 seconds.` : "No webhook endpoints are configured (Loyalty:Webhooks:Endpoints).");
  }

  // Liability: the points the program owes (finance), read when the view opens and when a range is chosen; the
  // movements cover the dates in the form (the engine's default, the last 30 days, until one is chosen).
  const num = n => Number(n).toLocaleString("en-US");
  const signedNum = n => `${n > 0 ? "+" : ""}${num(n)}`;
  const cell = (tr, value, cls) => { const td = document.createElement("td"); if (cls) td.className = cls; td.textContent = value; tr.appendChild(td); return td; };
  const monthName = m => new Date(`${m}-01T00:00:00Z`).toLocaleDateString("en-US", { month: "short", year: "numeric", timeZone: "UTC" });
  const LIABILITY_FIELDS = ["outstanding", "available", "pending", "with-balance", "customers", "breakage", "range"];
  function clearLiability() {
    for (const f of LIABILITY_FIELDS) text(field(`liability-${f}`), "");
    for (const id of ["liability-tiers", "liability-expiring", "liability-period", "liability-days"]) $(id).textContent = "";
  }
  async function loadLiability() {
    const mine = ++reports;
    const range = new URLSearchParams();
    if ($("liability-from").value) range.set("from", $("liability-from").value);
    if ($("liability-to").value) range.set("to", $("liability-to").value);
    status("Reading the points liability…");
    const response = await api(`liability${range.toString() ? `?${range}` : ""}`);
    if (mine !== reports || view !== "liability" || !session) return;
    if (!response) { status(unreachable, true); return; }
    if (response.status === 401 || response.status === 403) { clearLiability(); status(`The liability report needs reports:read or customers:admin (${await response.text()}).`, true); return; }
    if (response.status === 400) { status(`Those dates cannot be shown: ${await response.text()}`, true); return; }
    if (!response.ok) { status(`The engine answered ${response.status}: ${await response.text()}`, true); return; }
    const report = await response.json();
    if (mine !== reports || view !== "liability") return;
    renderLiability(report);
  }
  function renderLiability(r) {
    text(field("liability-outstanding"), num(r.pointsOutstanding));
    text(field("liability-available"), num(r.pointsAvailable));
    text(field("liability-pending"), num(r.pointsPending));
    text(field("liability-with-balance"), num(r.customersWithBalance));
    text(field("liability-customers"), num(r.customers));
    text(field("liability-breakage"), `${(r.breakage * 100).toFixed(2)} %`);
    text(field("liability-range"), `${r.from} to ${r.to}`);
    $("liability-from").value = r.from; $("liability-to").value = r.to;

    const tiers = $("liability-tiers"); tiers.textContent = "";
    for (const t of r.tiers) {
      const tr = document.createElement("tr"); tr.dataset.tier = t.tier;
      cell(tr, t.tier);
      for (const n of [t.customers, t.customersWithBalance, t.pointsAvailable, t.pointsPending, t.pointsAvailable + t.pointsPending]) cell(tr, num(n), "num");
      tiers.appendChild(tr);
    }
    if (!r.tiers.length) { const tr = document.createElement("tr"); cell(tr, "no customers yet", "muted").colSpan = 6; tiers.appendChild(tr); }

    // Each month's points as a bar against the largest, then what expires later and what is overdue.
    const expiring = $("liability-expiring"); expiring.textContent = "";
    const rows = [...r.expiring.map(m => [m.month, monthName(m.month), m.points]), ["later", "later", r.expiringLater], ["overdue", "overdue", r.expiringOverdue]];
    const most = Math.max(1, ...rows.map(x => x[2]));
    for (const [key, label, points] of rows) {
      const tr = document.createElement("tr"); tr.dataset.month = key;
      cell(tr, label, key === "overdue" && points ? "miss" : "");
      const bar = document.createElement("div"); bar.className = "bar"; bar.setAttribute("aria-hidden", "true");
      span(bar, "", "").style.width = `${Math.round(100 * Math.max(0, points) / most)}%`;
      cell(tr, "", "meter").appendChild(bar);
      cell(tr, num(points), "num");
      expiring.appendChild(tr);
    }

    const p = r.period;
    const period = $("liability-period"); period.textContent = "";
    for (const [key, label, value, note] of [
      ["issued", "Issued", num(p.issued), p.issuedPending ? `${num(p.issuedPending)} into pending` : ""],
      ["activated", "Activated", num(p.activated), "pending points that became spendable"],
      ["redeemed", "Redeemed", num(p.redeemed), ""],
      ["expired", "Expired", num(p.expired), ""],
      ["adjusted", "Adjusted", signedNum(p.adjusted), "by operators and agents"],
      ["reversed", "Reversed", num(p.reversed), "taken back by refunds"],
      ["imported", "Imported", num(p.imported), "opening balances and history"],
      ["erased", "Erased", num(p.erased), "balances removed by erasure"],
      ["breakage", "Breakage", `${(r.breakage * 100).toFixed(2)} %`, "expired ÷ issued"],
    ]) {
      const tr = document.createElement("tr"); tr.dataset.movement = key;
      if (key === "breakage") tr.className = "total";
      cell(tr, label); cell(tr, note, "muted"); cell(tr, value, "num");
      period.appendChild(tr);
    }

    const days = $("liability-days"); days.textContent = "";
    for (const d of [...r.days].reverse()) {   // newest first
      const tr = document.createElement("tr"); tr.dataset.day = d.date;
      cell(tr, d.date);
      for (const n of [d.issued, d.redeemed, d.expired]) cell(tr, num(n), "num");
      cell(tr, signedNum(d.adjusted), "num");
      for (const n of [d.reversed, d.imported, d.erased]) cell(tr, num(n), "num");
      days.appendChild(tr);
    }
    if (!r.days.length) { const tr = document.createElement("tr"); cell(tr, "no movements in this period", "muted").colSpan = 8; days.appendChild(tr); }
    status(`Points liability as of ${new Date(r.asOf).toLocaleString()}; movements ${r.from} to ${r.to}.`);
  }

  const NS = "http://www.w3.org/2000/svg";
  const svgEl = (name, attrs) => { const el = document.createElementNS(NS, name); for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v); return el; };
  function frame(svg, max, unitsLabel) {
    svg.textContent = "";
    const w = svg.clientWidth || 800, h = svg.clientHeight || 220, left = 44, bottom = 22;
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    for (const f of [0, 0.5, 1]) {
      const y = h - bottom - f * (h - bottom - 10);
      svg.appendChild(svgEl("line", { x1: left, x2: w, y1: y, y2: y, stroke: "#e3e9f0" }));
      const label = svgEl("text", { x: left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#5b6b7c" }); label.textContent = Math.round(f * max); svg.appendChild(label);
    }
    const caption = svgEl("text", { x: w, y: h - 4, "text-anchor": "end", "font-size": 11, fill: "#5b6b7c" }); caption.textContent = unitsLabel; svg.appendChild(caption);
    return { w, h, left, bottom };
  }
  function lines(svg, seconds, series) {
    const max = Math.max(1, ...seconds.map(s => Math.max(...series.map(k => s[k]))));
    const { w, h, left, bottom } = frame(svg, max, `last ${seconds.length} s`);
    const x = i => left + i * (w - left) / Math.max(1, seconds.length - 1), y = v => h - bottom - v / max * (h - bottom - 10);
    for (const k of series) {
      svg.appendChild(svgEl("polyline", { points: seconds.map((s, i) => `${x(i).toFixed(1)},${y(s[k]).toFixed(1)}`).join(" "),
        fill: "none", stroke: COLORS[k], "stroke-width": 2, "data-series": k }));
    }
  }
  function bars(svg, minutes) {
    const max = Math.max(1, ...minutes.map(m => m.rewards));
    const { w, h, left, bottom } = frame(svg, max, `last ${minutes.length} min`);
    const slot = (w - left) / minutes.length;
    minutes.forEach((m, i) => {
      const height = m.rewards / max * (h - bottom - 10);
      svg.appendChild(svgEl("rect", { x: left + i * slot + 1, y: h - bottom - height, width: Math.max(1, slot - 2), height, fill: "#1a7f37", "data-rewards": m.rewards }));
    });
  }
  $("legend").append(...SOURCES.map(k => { const s = document.createElement("span"); const i = document.createElement("i"); i.style.background = COLORS[k]; s.append(i, k); return s; }));

  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  $("sign-out").addEventListener("click", signOut);
  $("signin-form").addEventListener("submit", async e => {
    e.preventDefault();
    const candidate = $("key").value.trim();
    $("key").value = "";
    if (await signIn(candidate)) { start(); show(home()); if (view === "customer") $("customer").focus(); }
  });
  $("liability-range").addEventListener("submit", e => { e.preventDefault(); loadLiability(); });
  // The program fills the goodwill catalogue too: read it for keys that may see the customer or program view.
  const start = () => { if (offered().includes("customer") || offered().includes("program")) loadProgram(true); };
  $("find").addEventListener("submit", e => {
    e.preventDefault();
    const id = $("customer").value.trim();
    if (id) lookup(id);
  });

  // A link may name the view or the customer (#customer=…, #program, #live, #liability), never the key: a key in a link would
  // end up in chats and histories. A reload within the tab keeps the session's key.
  (async () => {
    const params = new URLSearchParams(location.hash.slice(1));
    history.replaceState(null, "", location.pathname);
    if (!key() || !await signIn(key())) {
      $("signin").hidden = false;
      if ($("status").className !== "status error") status("Sign in with your API key.");
      return;
    }
    start();
    const customer = params.get("customer");
    const named = VIEWS.find(v => v !== "customer" && params.has(v));
    if (named) show(named);
    else { show(home()); if (customer && view === "customer") { $("customer").value = customer; lookup(customer); } }
  })();
})();
