/* Configuration page (data: load/save_config_table, (gc_)blacklist, safe_gc_blacklist, settings). */
"use strict";
(function () {
  const {el, replaceChildren, api, showMessage, poll} = Disco;
  const HOST_SPEC = /^[A-Za-z0-9_.\-]+(:\d+)?$/;

  /* ---- node table ---- */
  function configRow(host, workers) {
    const row = el("tr", {class: "node"}, [
      el("td", {}, [el("input", {type: "text", class: "host", value: host || "", placeholder: "hostname or node01:10", maxlength: 255})]),
      el("td", {}, [el("input", {type: "number", class: "workers", value: workers === undefined ? "" : workers, min: 0, step: 1})]),
      el("td", {}, [el("button", {type: "button", class: "small remove", text: "Remove", onclick: () => row.remove()})]),
    ]);
    return row;
  }

  async function loadTable() {
    try {
      const table = await api.get("/disco/ctrl/load_config_table");
      replaceChildren(document.getElementById("config-rows"), table.map(([h, n]) => configRow(h, n)));
      showMessage("table-load", null);
    } catch (e) { showMessage("table-load", "Could not load the node table: " + e.message); }
  }

  function readTable() {
    const table = [], problems = [];
    for (const row of document.querySelectorAll("#config-rows tr")) {
      const host = row.querySelector(".host"), workers = row.querySelector(".workers");
      const h = host.value.trim(), n = workers.value.trim();
      if (!h && !n) continue;                                      // an untouched new row
      const hostOk = HOST_SPEC.test(h), workersOk = /^\d+$/.test(n);
      host.classList.toggle("invalid", !hostOk);
      workers.classList.toggle("invalid", !workersOk);
      if (!hostOk) problems.push("\u201c" + h + "\u201d is not a host name or range");
      if (!workersOk) problems.push("max workers of \u201c" + h + "\u201d must be a whole number");
      table.push([h, n]);
    }
    return {table, problems};
  }

  async function saveTable() {
    const {table, problems} = readTable();
    if (problems.length) { showMessage("table", "Not saved: " + problems.join("; ") + "."); return; }
    try {
      const reply = await api.post("/disco/ctrl/save_config_table", table);
      showMessage("table", String(reply || "table saved!"), "info");
      await loadTable();
      await refreshHosts();
    } catch (e) { showMessage("table", "The master rejected the table: " + e.message); }
  }

  /* ---- blacklists ---- */
  function blacklistEntry(host, safe, onRemove) {
    return el("div", {class: "bnode" + (safe ? " safe" : ""), dataset: {host: host}}, [
      el("span", {}, [host, safe ? el("span", {class: "safe-label", text: "safe to remove"}) : null]),
      el("button", {type: "button", class: "small", text: "Remove from blacklist", onclick: onRemove})]);
  }

  async function refreshBlacklists() {
    const [blacklist, gcBlacklist, safe] = await Promise.all([
      api.get("/disco/ctrl/get_blacklist"), api.get("/disco/ctrl/get_gc_blacklist"),
      api.get("/ddfs/ctrl/safe_gc_blacklist").catch(() => [])]);
    const safeSet = new Set(Array.isArray(safe) ? safe : []);
    replaceChildren(document.getElementById("blacklist"), blacklist.length
      ? blacklist.map((h) => blacklistEntry(h, false, () => change("/disco/ctrl/whitelist", h)))
      : [el("p", {class: "empty", text: "No node is blacklisted."})]);
    replaceChildren(document.getElementById("gc-blacklist"), gcBlacklist.length
      ? gcBlacklist.map((h) => blacklistEntry(h, safeSet.has(h), () => change("/disco/ctrl/gc_whitelist", h)))
      : [el("p", {class: "empty", text: "No node is blacklisted."})]);
  }

  async function change(path, host) {
    try {
      await api.post(path, host);
      showMessage("blacklist", null);
      await refreshBlacklists();
    } catch (e) { showMessage("blacklist", "Could not update the blacklist for \u201c" + host + "\u201d: " + e.message); }
  }

  function blacklistForm(formId, inputId, path) {
    document.getElementById(formId).addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const input = document.getElementById(inputId);
      const host = input.value.trim();
      if (!host) return;
      await change(path, host);
      input.value = "";
    });
  }

  async function refreshHosts() {
    try {
      const info = await api.get("/disco/ctrl/nodeinfo");
      replaceChildren(document.getElementById("known-hosts"), Object.keys(info).sort().map((h) => el("option", {value: h})));
    } catch (e) { /* only a convenience */ }
  }

  /* ---- settings ---- */
  async function loadSettings() {
    try {
      const settings = await api.get("/disco/ctrl/get_settings");
      document.getElementById("max_failure_rate").value = settings.max_failure_rate;
      document.getElementById("accept_new_jobs").value = String(Number(settings.accept_new_jobs) ? 1 : 0);
    } catch (e) { showMessage("settings", "Could not load settings: " + e.message); }
  }

  /* ---- the settings table (GET /disco/ctrl/settings) ---- */
  async function loadSettingsTable() {
    const body = document.querySelector("#settings-table tbody");
    try {
      const rows = await api.get("/disco/ctrl/settings");
      replaceChildren(body, rows.map((row) => el("tr", {class: "setting"}, [
        el("td", {text: row.name}),
        el("td", {text: row.value === null || row.value === undefined ? "" : String(row.value)}),
        el("td", {text: row.default}),
        el("td", {text: row.help})])));
    } catch (e) { showMessage("settings", "Could not load the settings table: " + e.message); }
  }

  async function saveSettings(ev) {
    ev.preventDefault();
    const rate = document.getElementById("max_failure_rate");
    if (!/^\d+$/.test(rate.value.trim())) {
      rate.classList.add("invalid");
      showMessage("settings", "Max failures must be a whole number.");
      return;
    }
    rate.classList.remove("invalid");
    try {
      const reply = await api.post("/disco/ctrl/save_settings", {
        max_failure_rate: rate.value.trim(), accept_new_jobs: document.getElementById("accept_new_jobs").value});
      showMessage("settings", String(reply || "Settings saved"), "info");
      await loadSettings();
    } catch (e) { showMessage("settings", "The master rejected the settings: " + e.message); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("add-row").addEventListener("click", () => {
      const row = configRow("", "");
      document.getElementById("config-rows").append(row);
      row.querySelector(".host").focus();
    });
    document.getElementById("save-table").addEventListener("click", saveTable);
    document.getElementById("reload-table").addEventListener("click", loadTable);
    document.getElementById("settings-form").addEventListener("submit", saveSettings);
    blacklistForm("blacklist-form", "blacklist-host", "/disco/ctrl/blacklist");
    blacklistForm("gc-blacklist-form", "gc-blacklist-host", "/disco/ctrl/gc_blacklist");
    loadTable();
    loadSettings();
    loadSettingsTable();
    refreshHosts();
    poll(async () => {
      try { await refreshBlacklists(); showMessage("blacklists", null); }
      catch (e) { showMessage("blacklists", "Could not load the blacklists: " + e.message); }
    }, Math.max(Disco.refreshInterval(), 5000));
  });
})();
