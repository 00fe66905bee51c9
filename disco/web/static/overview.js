/* Overview page: node boxes, job list, DDFS GC (data: nodeinfo, joblist, jobinfo, gc_*). */
"use strict";
(function () {
  const {el, replaceChildren, api, showMessage, poll, refreshInterval, formatKB, formatUnix} = Disco;
  const MAX_ROWS = 1000;
  const owners = new Map();          // job name -> owner (never changes, fetched once per job)
  let hoveredJob = null;
  let lastNodes = "", lastJobs = "", jobs = [];

  /* ---- nodes ---- */
  function nodeBox(host, info) {
    const tasks = info.tasks || [];
    const slots = [];
    const count = Math.max(Number(info.max_workers) || 0, tasks.length);
    for (let i = 0; i < count; i++) {
      const job = tasks[i];
      slots.push(job === undefined
        ? el("div", {class: "slot", title: "free"})
        : el("div", {class: "slot busy", title: job, dataset: {job: job},
                     onclick: () => setFilter(job)}));
    }
    const free = Number(info.diskfree) || 0, used = Number(info.diskused) || 0;
    const disk = (info.diskfree === undefined && info.diskused === undefined) ? null :
      el("div", {class: "disk", title: "DDFS disk: " + formatKB(used) + " used, " + formatKB(free) + " free"}, [
        el("div", {class: "bar"}, [el("span", {class: "used", style: "width:" + (100 * used / Math.max(1, used + free)).toFixed(1) + "%"})]),
        el("div", {text: "DDFS " + formatKB(used) + " used \u00b7 " + formatKB(free) + " free"}),
      ]);
    const flags = [];
    if (!info.connected) flags.push("disconnected");
    if (info.blacklisted) flags.push("blacklisted");
    return el("div", {class: "nodebox" + (info.connected ? "" : " disconnected") + (info.blacklisted ? " blacklisted" : ""),
                      dataset: {host: host}}, [
      el("div", {class: "title"}, [el("span", {class: "host", title: host, text: host}),
                                   el("span", {class: "flags", text: flags.length ? flags.join(", ") : tasks.length + "/" + count + " busy"})]),
      el("div", {class: "slots"}, slots),
      el("div", {class: "counters", title: "job_ok | data_error | error"}, [
        el("span", {class: "ok", text: info.job_ok || 0}),
        el("span", {class: "data_error", text: info.data_error || 0}),
        el("span", {class: "error", text: info.error || 0})]),
      disk,
    ]);
  }

  async function refreshNodes() {
    const data = await api.get("/disco/ctrl/nodeinfo");
    showMessage("nodes", null);
    const text = JSON.stringify(data);
    if (text === lastNodes) return;
    lastNodes = text;
    const hosts = Object.keys(data).sort();
    let slots = 0, busy = 0, connected = 0;
    for (const h of hosts) {
      slots += Number(data[h].max_workers) || 0;
      busy += (data[h].tasks || []).length;
      if (data[h].connected) connected++;
    }
    document.getElementById("node-summary").textContent =
      hosts.length + " nodes, " + connected + " connected, " + busy + "/" + slots + " slots busy";
    replaceChildren(document.getElementById("nodes"),
      hosts.length ? hosts.map((h) => nodeBox(h, data[h]))
                   : [el("p", {class: "empty"}, ["No nodes configured. Add some on the ",
                        el("a", {href: "/config.html", text: "configuration page"}), "."])]);
    highlight(hoveredJob);
  }

  function highlight(job) {
    for (const slot of document.querySelectorAll(".slot.highlight")) slot.classList.remove("highlight");
    if (!job) return;
    for (const slot of document.querySelectorAll(".slot.busy"))
      if (slot.dataset.job === job) slot.classList.add("highlight");
  }

  /* ---- jobs ---- */
  function setFilter(text) {
    const input = document.getElementById("job-filter");
    input.value = text;
    renderJobs();
  }

  const ownerObserver = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      ownerObserver.unobserve(entry.target);
      fetchOwner(entry.target.dataset.job);
    }
  }, {root: document.getElementById("joblist")});

  async function fetchOwner(name) {
    if (owners.has(name)) return;
    owners.set(name, "");
    try {
      const info = await api.get("/disco/ctrl/jobinfo", {name: name});
      owners.set(name, info.owner || "");
      for (const cell of document.querySelectorAll("#joblist tr.job"))
        if (cell.dataset.job === name) cell.querySelector(".owner").textContent = info.owner || "";
    } catch (e) { owners.delete(name); }
  }

  function jobRow(job) {
    const [start, status, name, owner] = job;
    if (owner) owners.set(name, owner);
    const row = el("tr", {class: "job row-" + status, dataset: {job: name, status: status},
                          onmouseenter: () => { hoveredJob = name; highlight(name); },
                          onmouseleave: () => { hoveredJob = null; highlight(null); },
                          onclick: (ev) => { if (ev.target.tagName !== "A") location.href = "job.html?name=" + encodeURIComponent(name); }}, [
      el("td", {}, [Disco.jobLink(name)]),
      el("td", {class: "nowrap"}, [el("span", {class: "pill " + status, text: status})]),
      el("td", {class: "owner muted nowrap", text: owners.get(name) || ""}),
      el("td", {class: "muted mono nowrap", text: formatUnix(start)}),
    ]);
    if (!owners.has(name)) ownerObserver.observe(row);
    return row;
  }

  function renderJobs() {
    const input = document.getElementById("job-filter");
    const text = input.value.trim().toLowerCase();
    const status = document.getElementById("job-status").value;
    const matching = jobs.filter((j) => (!status || j[1] === status) &&
      (!text || j[2].toLowerCase().includes(text) || j[1].includes(text) ||
       (owners.get(j[2]) || "").toLowerCase().includes(text)));
    const counts = {active: 0, ready: 0, dead: 0};
    for (const j of jobs) counts[j[1]] = (counts[j[1]] || 0) + 1;
    document.getElementById("job-count").textContent = jobs.length + " jobs: " + counts.active + " active, " +
      counts.ready + " ready, " + counts.dead + " dead" + (matching.length !== jobs.length ? " \u00b7 " + matching.length + " shown" : "");
    ownerObserver.disconnect();
    const rows = matching.slice(0, MAX_ROWS).map(jobRow);
    if (!jobs.length) rows.push(el("tr", {}, [el("td", {colspan: 4, class: "empty", text: "No jobs yet."})]));
    else if (!matching.length) rows.push(el("tr", {}, [el("td", {colspan: 4, class: "empty", text: "No job matches the filter."})]));
    if (matching.length > MAX_ROWS)
      rows.push(el("tr", {}, [el("td", {colspan: 4, class: "muted", text: (matching.length - MAX_ROWS) + " more; refine the filter."})]));
    replaceChildren(document.querySelector("#joblist tbody"), rows);
  }

  async function refreshJobs() {
    const data = await api.get("/disco/ctrl/joblist");
    showMessage("jobs", null);
    const text = JSON.stringify(data);
    if (text === lastJobs) return;
    lastJobs = text;
    jobs = data;
    renderJobs();
  }

  /* ---- DDFS GC ---- */
  async function refreshGC() {
    const [status, stats] = await Promise.all([api.get("/ddfs/ctrl/gc_status"), api.get("/ddfs/ctrl/gc_stats")]);
    const running = Boolean(status);
    document.getElementById("gc-status").textContent = running ? status : "GC is not running.";
    document.getElementById("gc-start").disabled = running;
    const box = document.getElementById("gc-stats");
    if (!stats || typeof stats !== "object") {
      replaceChildren(box, [el("p", {class: "empty", text: "No GC run has finished since the master started."})]);
      return;
    }
    const stamp = typeof stats.timestamp === "number" ? formatUnix(stats.timestamp) : String(stats.timestamp || "");
    const rows = Object.entries(stats.stats || {}).map(([name, value]) => {
      const [files, bytes] = Array.isArray(value) ? value : [value, null];
      return el("tr", {}, [el("td", {text: name}), el("td", {class: "num", text: files}),
                           el("td", {class: "num", text: bytes === null ? "" : Disco.formatKB(bytes / 1024)})]);
    });
    replaceChildren(box, [el("div", {class: "muted", text: "Last DDFS GC run: " + stamp}),
      el("table", {class: "gcstats"}, [el("thead", {}, [el("tr", {}, [el("th", {text: ""}), el("th", {class: "num", text: "files"}), el("th", {class: "num", text: "size"})])]),
                                       el("tbody", {}, rows)])]);
  }

  async function startGC() {
    try {
      const reply = await api.get("/ddfs/ctrl/gc_start");
      showMessage("gc", String(reply || "GC started"), "info");
      gcPoller.now();
    } catch (e) { showMessage("gc", "Could not start GC: " + e.message); }
  }

  function guard(key, what, fn) {
    return async () => {
      try { await fn(); }
      catch (e) { showMessage(key, "Could not load " + what + ": " + e.message); }
    };
  }

  let gcPoller;
  document.addEventListener("DOMContentLoaded", () => {
    const every = refreshInterval();
    document.getElementById("job-filter").addEventListener("input", renderJobs);
    document.getElementById("job-status").addEventListener("change", renderJobs);
    document.getElementById("gc-start").addEventListener("click", startGC);
    const initial = new URLSearchParams(location.search).get("filter");
    if (initial) document.getElementById("job-filter").value = initial.slice(0, Disco.MAX_FILTER);
    poll(guard("nodes", "nodes", refreshNodes), every);
    poll(guard("jobs", "the job list", refreshJobs), every);
    gcPoller = poll(guard("gc", "DDFS GC status", refreshGC), Math.max(every, 5000));
  });
})();
