/* Job page (data: jobinfo, jobevents, get_results, rawevents or the task list for the timeline). */
"use strict";
(function () {
  const {el, replaceChildren, api, showMessage, poll, refreshInterval, parseStamp, formatDuration, urlLink} = Disco;
  const name = new URLSearchParams(location.search).get("name") || "";
  let info = null, events = [], eventFilter = "", hostFilter = "", pollers = [];
  let resultsShown = false;

  function finished() { return info && info.active !== "active" && info.active !== "initializing"; }

  /* ---- job info ---- */
  function stageRow(row) {
    const [stage, pending, waiting, running, done, failed] = row;
    const total = Math.max(1, pending + waiting + running + done);
    const pct = (n) => (100 * n / total).toFixed(1) + "%";
    const bar = el("div", {class: "bar", title: done + " of " + (pending + waiting + running + done) + " tasks done"}, [
      el("span", {class: "done", style: "width:" + pct(done)}),
      el("span", {class: "running", style: "width:" + pct(running)})]);
    const cells = [pending, waiting, running, done, failed].map((n, i) =>
      el("td", {class: "num" + (i === 4 && n ? " failed-count" : ""), text: n}));
    return el("tr", {dataset: {stage: stage}}, [el("td", {class: "mono", text: stage}), ...cells,
      el("td", {class: "bar-cell"}, [bar])]);
  }

  function urlBlock(entry) {
    const replicas = Array.isArray(entry) ? entry : [entry];
    return el("div", {class: "replicas"}, replicas.map((url, i) =>
      i === 0 ? urlLink(url) : el("div", {class: "redundant"}, [urlLink(url)])));
  }

  function renderUrls(id, list, limit) {
    const shown = list.slice(0, limit);
    const nodes = shown.map(urlBlock);
    if (!list.length) nodes.push(el("p", {class: "empty", text: "none"}));
    if (list.length > limit) nodes.unshift(el("p", {class: "muted", text: "Showing the first " + limit + " of " + list.length + "."}));
    replaceChildren(document.getElementById(id), nodes);
    document.getElementById(id + "-count").textContent = list.length ? String(list.length) : "";
  }

  function endTime() {
    if (!finished()) return new Date();
    const newest = events.length ? parseStamp(events[0][0]) : null;
    return newest || new Date();
  }

  function renderInfo() {
    const status = document.getElementById("nfo-status");
    status.textContent = info.active;
    status.className = "pill " + info.active;
    document.getElementById("nfo-owner").textContent = info.owner || "";
    document.getElementById("nfo-started").textContent = info.timestamp || "";
    document.getElementById("nfo-worker").textContent = info.worker || "";
    const start = parseStamp(info.timestamp);
    document.getElementById("nfo-duration").textContent =
      start ? formatDuration((endTime() - start) / 1000) + (finished() ? "" : " (running)") : "";
    replaceChildren(document.getElementById("stages"), (info.pipeline || []).map(stageRow));
    const hosts = info.hosts || [];
    document.getElementById("hosts-count").textContent = hosts.length ? String(hosts.length) : "";
    replaceChildren(document.getElementById("hosts"), hosts.length
      ? hosts.map((h) => el("span", {text: h})) : [el("p", {class: "empty", text: finished() ? "The job is not running." : "No task is running."})]);
    renderUrls("inputs", info.inputs || [], 100);
    if (!resultsShown) renderUrls("results", info.results || [], 1000);
    document.getElementById("kill-job").disabled = finished();
    document.getElementById("purge-job").disabled = false;
  }

  async function refreshInfo() {
    try {
      info = await api.get("/disco/ctrl/jobinfo", {name: name});
    } catch (e) {
      if (e.status === 404) {
        showMessage("info", "Unknown job \u201c" + name + "\u201d: the master has no job of that name (it may have been purged).");
        document.getElementById("job-body").hidden = true;
        return "stop";
      }
      showMessage("info", "Could not load the job: " + e.message);
      return;
    }
    showMessage("info", null);
    document.getElementById("job-body").hidden = false;
    renderInfo();
    await Counters.refresh(name);
    if (finished()) {
      await refreshEvents();
      await loadResults();
      renderInfo();
      await Timeline.refresh(name, info, true);
      return "stop";
    }
    await Timeline.refresh(name, info, false);
  }

  /* Replica lists come from get_results (jobinfo flattens them). */
  async function loadResults() {
    if (info.active !== "ready") return;
    try {
      const reply = await api.post("/disco/ctrl/get_results", [0, [name]]);
      const [, [status, results]] = reply[0];
      if (status === "ready" && Array.isArray(results)) {
        resultsShown = true;
        renderUrls("results", results, 1000);
      }
    } catch (e) { /* keep the flattened list from jobinfo */ }
  }

  /* ---- events ---- */
  function eventKind(message) {
    if (/^(ERROR|FATAL)/.test(message) || / failed /.test(message)) return "error";
    if (/^WARN/.test(message)) return "warning";
    if (/^READY/.test(message)) return "ready";
    return "";
  }

  function renderEvents() {
    const hosts = new Set(events.map((e) => e[1]));
    const select = document.getElementById("event-host");
    const current = select.value;
    const options = [el("option", {value: "", text: "all hosts"})];
    for (const h of [...hosts].sort()) options.push(el("option", {value: h, text: h}));
    if (hostFilter && !hosts.has(hostFilter)) options.push(el("option", {value: hostFilter, text: hostFilter}));
    replaceChildren(select, options);
    select.value = hostFilter || current;
    const shown = events.filter((e) => !hostFilter || e[1] === hostFilter);
    document.getElementById("events-count").textContent = shown.length + " shown, newest first" +
      (eventFilter ? " \u00b7 matching \u201c" + eventFilter + "\u201d" : "");
    const rows = shown.map(([stamp, host, message]) => el("div", {class: "event " + eventKind(message)}, [
      el("div", {class: "tstamp", text: stamp}),
      el("div", {class: "node", title: "show only events of " + host, text: host,
                 onclick: () => setHost(hostFilter === host ? "" : host)}),
      el("div", {class: "text"}, [el("pre", {text: message})])]));
    if (!rows.length) rows.push(el("p", {class: "empty", style: "padding:6px 8px", text: "No events."}));
    replaceChildren(document.getElementById("events"), rows);
  }

  function setHost(host) { hostFilter = host; renderEvents(); }

  async function refreshEvents() {
    try {
      const params = {name: name, num: eventFilter ? 1000 : 100};
      if (eventFilter) params.filter = eventFilter;
      events = await api.get("/disco/ctrl/jobevents", params);
      if (!Array.isArray(events)) events = [];
      showMessage("events", null);
    } catch (e) {
      showMessage("events", "Could not load events: " + e.message);
      return;
    }
    renderEvents();
  }

  async function submitFilter(ev) {
    ev.preventDefault();
    const text = document.getElementById("event-text").value.trim();
    if (text.length > Disco.MAX_FILTER) {
      showMessage("events", "The filter is too long (at most " + Disco.MAX_FILTER + " characters).");
      return;
    }
    eventFilter = text;
    hostFilter = document.getElementById("event-host").value;
    await refreshEvents();
  }

  /* ---- actions ---- */
  async function kill() {
    if (!await Disco.confirmDialog("Kill job", "Do you really want to kill " + name + "?", "Kill job")) return;
    try {
      await api.post("/disco/ctrl/kill_job", name);
      showMessage("action", "Kill requested for " + name + ".", "info");
      pollers.forEach((p) => p.now());
    } catch (e) { showMessage("action", "Could not kill the job: " + e.message); }
  }

  async function purge() {
    if (!await Disco.confirmDialog("Delete all job data",
        "Do you really want to delete all data of " + name + "? This kills the job if it is running.", "Delete")) return;
    try {
      await api.post("/disco/ctrl/purge_job", name);
      location.href = "/";
    } catch (e) { showMessage("action", "Could not purge the job: " + e.message); }
  }

  async function copyName() {
    try { await navigator.clipboard.writeText(name); showMessage("action", "Copied " + name, "info"); }
    catch (e) { showMessage("action", "Copy failed; the job name is " + name, "info"); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("title").textContent = name || "(no job name given)";
    document.title = name + " \u00b7 Disco";
    const q = "?name=" + encodeURIComponent(name);
    replaceChildren(document.getElementById("json-links"), [
      el("a", {href: "/disco/ctrl/jobinfo" + q, text: "jobinfo"}), ", ",
      el("a", {href: "/disco/ctrl/jobevents" + q + "&num=100", text: "jobevents"}), ", ",
      el("a", {href: "/disco/ctrl/rawevents" + q, text: "rawevents"}), ", ",
      el("a", {href: "/disco/ctrl/counters" + q, text: "counters"})]);
    if (!name) { showMessage("info", "No job name given: open this page as job.html?name=JOB."); return; }
    document.getElementById("kill-job").addEventListener("click", kill);
    document.getElementById("purge-job").addEventListener("click", purge);
    document.getElementById("copy-name").addEventListener("click", copyName);
    document.getElementById("event-filter").addEventListener("submit", submitFilter);
    document.getElementById("event-host").addEventListener("change", (e) => setHost(e.target.value));
    document.getElementById("event-clear").addEventListener("click", async () => {
      document.getElementById("event-text").value = "";
      eventFilter = ""; hostFilter = "";
      await refreshEvents();
    });
    const every = refreshInterval();
    pollers.push(poll(refreshInfo, every));
    pollers.push(poll(async () => {
      if (finished()) return "stop";
      if (!eventFilter) await refreshEvents();
    }, every));
  });
})();
