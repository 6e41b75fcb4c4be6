// leadbot dashboard: live updates over server-sent events, charts, small conveniences.
// Data from the server is only ever put on the page with textContent (never innerHTML).
"use strict";

(function () {
  const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function fmtTime(ts) {
    if (!ts) return "-";
    const d = new Date(ts * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  }

  // ------------------------------------------------------------------ live figures
  function updateStats(s) {
    document.querySelectorAll("[data-stat]").forEach((node) => {
      const key = node.getAttribute("data-stat");
      const value = s[key];
      node.textContent = value === null || value === undefined ? "-" : String(value);
    });
    const state = document.getElementById("send-state");
    if (state) {
      state.textContent = s.paused ? "PAUSED" : s.shadow ? "SHADOW" : "SENDING";
      state.className = "state " + (s.paused ? "bad" : s.shadow ? "warn" : "ok");
    }
    const pause = document.getElementById("pause-button");
    if (pause) {
      pause.textContent = s.paused ? "Resume sending" : "Pause sending";
      pause.className = "big " + (s.paused ? "resume" : "pause");
      pause.form.action = s.paused ? "/control/resume" : "/control/pause";
    }
    const shadow = document.getElementById("shadow-button");
    if (shadow) {
      shadow.textContent = s.shadow_flag ? "Shadow mode: ON (click to send for real)" : "Shadow mode: off";
      shadow.form.action = s.shadow_flag ? "/control/shadow-off" : "/control/shadow-on";
    }
    const suppressed = document.getElementById("suppressed");
    if (suppressed) {
      suppressed.replaceChildren();
      const entries = Object.entries(s.suppressed || {});
      if (!entries.length) suppressed.appendChild(el("li", "nothing suppressed", "muted"));
      entries.sort((a, b) => b[1] - a[1]).forEach(([reason, n]) => {
        const li = el("li");
        li.appendChild(el("strong", n));
        li.appendChild(document.createTextNode(" " + reason));
        suppressed.appendChild(li);
      });
    }
    const connectors = document.getElementById("connectors");
    if (connectors && (s.connectors || []).length) {
      connectors.replaceChildren();
      s.connectors.forEach((c) => {
        const tr = el("tr");
        tr.appendChild(el("td", c.name));
        tr.appendChild(el("td", c.platform));
        tr.appendChild(el("td", c.state, "state-" + c.state));
        tr.appendChild(el("td", c.reconnects));
        tr.appendChild(el("td", c.last_error || ""));
        connectors.appendChild(tr);
      });
    }
  }

  function updateBoards(boards) {
    Object.entries(boards).forEach(([minutes, rows]) => {
      const list = document.querySelector(`.board[data-window="${minutes}"] .board-list`);
      if (!list) return;
      list.replaceChildren();
      if (!rows.length) list.appendChild(el("li", "No questions yet.", "muted empty"));
      rows.forEach((row) => {
        const li = el("li");
        li.appendChild(el("span", row.label, "b-product"));
        li.appendChild(document.createTextNode(" · "));
        li.appendChild(el("span", row.intent, "b-intent intent-" + row.intent));
        li.appendChild(document.createTextNode(" · "));
        li.appendChild(el("strong", `${row.people} ${row.people === 1 ? "person" : "people"}`, "b-people"));
        li.appendChild(el("div", `“${row.example}”`, "b-example muted"));
        list.appendChild(li);
      });
    });
  }

  function latestLeadRow(lead) {
    const tr = el("tr");
    tr.dataset.id = lead.id;
    const link = el("a", lead.id);
    link.href = "/leads/" + encodeURIComponent(lead.id);
    const first = el("td");
    first.appendChild(link);
    tr.appendChild(first);
    tr.appendChild(el("td", lead.nickname, "nick"));
    tr.appendChild(el("td", lead.platform));
    tr.appendChild(el("td", (lead.intents || []).join(", ")));
    tr.appendChild(el("td", (lead.products || []).join(", ")));
    tr.appendChild(el("td", lead.last_text, "text"));
    tr.appendChild(el("td", Number(lead.score).toFixed(2)));
    tr.appendChild(el("td", lead.status));
    return tr;
  }

  function addLatestLeads(leads) {
    const body = document.getElementById("latest-leads");
    if (!body) return;
    leads
      .slice()
      .sort((a, b) => a.id - b.id)
      .forEach((lead) => {
        const existing = body.querySelector(`tr[data-id="${Number(lead.id)}"]`);
        if (existing) existing.remove();
        body.insertBefore(latestLeadRow(lead), body.firstChild);
      });
    while (body.children.length > 50) body.removeChild(body.lastChild);
  }

  // ------------------------------------------------------------------ leads table
  function leadRow(lead) {
    const tr = el("tr");
    tr.dataset.id = lead.id;
    const boxCell = el("td");
    const box = el("input");
    box.type = "checkbox";
    box.name = "ids";
    box.value = String(lead.id);
    box.setAttribute("form", "bulk");
    boxCell.appendChild(box);
    tr.appendChild(boxCell);
    const idCell = el("td");
    const link = el("a", lead.id);
    link.href = "/leads/" + encodeURIComponent(lead.id);
    idCell.appendChild(link);
    tr.appendChild(idCell);
    tr.appendChild(el("td", lead.nickname, "nick"));
    tr.appendChild(el("td", lead.platform));
    tr.appendChild(el("td", (lead.intents || []).join(", ")));
    tr.appendChild(el("td", (lead.products || []).join(", ")));
    tr.appendChild(el("td", lead.last_text, "text"));
    tr.appendChild(el("td", Number(lead.score).toFixed(2)));
    const status = el("td");
    status.appendChild(el("span", lead.status, "status status-" + lead.status));
    tr.appendChild(status);
    tr.appendChild(el("td", lead.replies_sent));
    tr.appendChild(el("td", fmtTime(lead.last_seen_at)));
    tr.appendChild(el("td", lead.origin, "muted"));
    return tr;
  }

  let refreshing = false;
  async function refreshLeads() {
    const body = document.getElementById("leads-body");
    if (!body || body.dataset.live !== "1" || refreshing) return;
    refreshing = true;
    try {
      const qs = body.dataset.qs || "";
      const response = await fetch("/api/leads" + (qs ? "?" + qs : ""), { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      const checked = new Set(Array.from(body.querySelectorAll("input[name=ids]:checked")).map((b) => b.value));
      body.replaceChildren();
      data.leads.forEach((lead) => {
        const row = leadRow(lead);
        if (checked.has(String(lead.id))) row.querySelector("input").checked = true;
        body.appendChild(row);
      });
      const total = document.getElementById("leads-total");
      if (total) total.textContent = String(data.total);
    } finally {
      refreshing = false;
    }
  }

  // ------------------------------------------------------------------ event stream
  function connect() {
    const wantsStats = document.querySelector("[data-stat]") || document.getElementById("boards");
    const leadsBody = document.getElementById("leads-body");
    if (!wantsStats && !(leadsBody && leadsBody.dataset.live === "1")) return;
    const latest = document.getElementById("latest-leads");
    const after = latest ? latest.dataset.lastId || "0" : "0";
    const source = new EventSource("/events?after=" + encodeURIComponent(after));
    source.addEventListener("stats", (e) => updateStats(JSON.parse(e.data)));
    source.addEventListener("board", (e) => updateBoards(JSON.parse(e.data)));
    let first = true;
    source.addEventListener("leads", (e) => {
      addLatestLeads(JSON.parse(e.data));
      if (leadsBody && !first) refreshLeads();
      if (leadsBody && first) refreshLeads();
      first = false;
    });
  }

  // ------------------------------------------------------------------ controls without reload
  function wireControls() {
    document.querySelectorAll("form[data-control]").forEach((form) => {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "X-CSRF-Token": csrf(), Accept: "application/json" },
        });
        if (response.ok) {
          const state = await response.json();
          updateStats(Object.assign({}, state));
        }
      });
    });
    const all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", () => {
        document.querySelectorAll("#leads-body input[name=ids]").forEach((box) => (box.checked = all.checked));
      });
    }
  }

  // ------------------------------------------------------------------ charts (Chart.js, vendored)
  function charts() {
    const node = document.getElementById("chart-data");
    if (!node || typeof window.Chart === "undefined") return;
    const data = JSON.parse(node.textContent);
    const common = { responsive: true, animation: false, plugins: { legend: { position: "bottom" } } };
    const b = data.broadcasts;
    new window.Chart(document.getElementById("chart-broadcasts"), {
      type: "bar",
      data: {
        labels: b.labels,
        datasets: [
          { label: "leads", data: b.leads },
          { label: "replies sent", data: b.replies },
          { label: "suppressed by caps", data: b.suppressed },
          { label: "conversions", data: b.conversions },
        ],
      },
      options: common,
    });
    const p = data.products;
    new window.Chart(document.getElementById("chart-products"), {
      type: "bar",
      data: { labels: p.labels, datasets: [{ label: "leads", data: p.leads }, { label: "conversions", data: p.conversions }] },
      options: Object.assign({ indexAxis: "y" }, common),
    });
    const h = data.hourly;
    new window.Chart(document.getElementById("chart-hourly"), {
      type: "line",
      data: { labels: h.labels, datasets: [{ label: "new leads", data: h.leads, tension: 0.2 }] },
      options: common,
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireControls();
    connect();
    charts();
  });
})();
