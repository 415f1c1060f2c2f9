// maplecollect status page: keeps the server-rendered page live by polling the
// JSON routes (no build step, no dependencies). Values are set with textContent
// only, so names from the API can never become markup.
"use strict";
(function () {
  const POLL_MS = 1000;
  const RUN_POLL_MS = 2000;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function toast(text) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => el.classList.remove("show"), 4000);
  }

  async function getJson(url) {
    const res = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (res.status === 401) {
      window.location.reload(); // the session ended: the server shows the login form
      throw new Error("unauthorized");
    }
    if (!res.ok) throw new Error(url + " -> HTTP " + res.status);
    return res.json();
  }

  function field(root, name) {
    return root.querySelector('[data-f="' + name + '"]');
  }

  function setText(el, text) {
    if (el && el.textContent !== text) el.textContent = text;
  }

  function setProgress(el, value) {
    if (!el) return;
    if (value === null || value === undefined) el.removeAttribute("value");
    else el.value = value;
  }

  function setList(el, items) {
    if (!el) return;
    const text = items.map((f) => f.code + ":" + f.count).join(",");
    if (el.dataset.shown === text) return;
    el.dataset.shown = text;
    el.replaceChildren(
      ...items.map((f) => {
        const li = document.createElement("li");
        const b = document.createElement("b");
        b.textContent = f.count.toLocaleString("en-US");
        li.append(f.code + " ", b);
        return li;
      })
    );
  }

  function setHidden(el, text) {
    if (!el) return;
    setText(el, text || "");
    el.hidden = !text;
  }

  // -- the index page --------------------------------------------------------

  function renderPhase(card, p) {
    const v = p.view;
    const badge = field(card, "status");
    setText(badge, v.status);
    badge.className = "badge s-" + v.status;
    const link = field(card, "run");
    setText(link, v.runId || "");
    link.setAttribute("href", v.runId ? "/runs/" + encodeURIComponent(v.runId) : "#");
    setText(field(card, "when"), v.when);
    setProgress(field(card, "progress"), v.progress);
    setText(field(card, "count"), v.count);
    setText(field(card, "rate"), v.rate);
    setText(field(card, "eta"), v.eta || "-");
    setList(field(card, "failures"), v.failures);
    setHidden(field(card, "pause"), v.pause);
    setHidden(field(card, "error"), v.error);
    const loop = field(card, "loop");
    if (loop) setText(loop, v.loop || "no loop");
    const resume = card.querySelector('[data-action="resume"]');
    if (resume) {
      resume.hidden = !v.canResume;
      resume.dataset.run = v.runId || "";
    }
  }

  function renderDays(days) {
    const rows = document.querySelectorAll("#days tbody tr");
    days.forEach((d, i) => {
      const row = rows[i];
      if (!row) return;
      setText(row.querySelector('[data-f="date"]'), d.snapshotDate);
      d.cells.forEach((c, j) => {
        const a = row.querySelector('[data-cell="' + j + '"]');
        if (!a) return;
        a.className = "cell c-" + c.colour;
        a.setAttribute("href", c.runId ? "/runs/" + encodeURIComponent(c.runId) : "#");
        a.title = c.phase + " " + (c.status || "no run");
        setText(a, c.status || "–");
      });
    });
  }

  function renderLimiter(limiter) {
    const box = document.getElementById("limiter");
    if (!box) return;
    const texts = limiter.keys.map((k) => k.text);
    if (box.dataset.shown === texts.join("\n")) return;
    box.dataset.shown = texts.join("\n");
    box.replaceChildren(
      ...texts.map((t) => {
        const s = document.createElement("span");
        s.textContent = t;
        return s;
      })
    );
  }

  async function pollOverview() {
    try {
      const data = await getJson("/api/internal/overview");
      for (const p of data.phases) {
        const card = document.querySelector('[data-phase="' + p.phase + '"]');
        if (card) renderPhase(card, p);
      }
      renderDays(data.days);
      renderLimiter(data.limiter);
      setText(document.getElementById("updated"), data.now.slice(11, 19) + " UTC");
      document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    } catch (err) {
      setText(document.getElementById("updated"), "unreachable, retrying");
    }
  }

  // -- buttons: the same control API as the CLI and Airflow ----------------

  const ACTIONS = {
    // Phases after RANKING_FETCH read the newest COMPLETED upstream run, as `--upstream latest`.
    trigger: (ph) => ["/api/internal/trigger/phase/" + ph, "Start a " + ph + " run (upstream: latest)?"],
    stop: (ph) => ["/api/internal/stop/phase/" + ph, "Stop " + ph + " (and its loop)?"],
    loop: (ph) => ["/api/internal/loop/phase/" + ph, "Start looping " + ph + "?"],
    "stop-loop": (ph) => ["/api/internal/stop/loop/phase/" + ph, "Stop the " + ph + " loop?"],
    resume: (ph, run) => ["/api/internal/resume/run/" + run, "Resume " + ph + " run " + run + "?"],
    daily: () => ["/api/internal/trigger/daily", "Start the daily chain (all four phases)?"],
  };

  async function act(button) {
    const make = ACTIONS[button.dataset.action];
    if (!make) return;
    const [url, question] = make(button.dataset.phase, button.dataset.run);
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      const headers = { "X-CSRF-Token": csrf };
      if (button.dataset.action === "trigger" && button.dataset.phase !== "RANKING_FETCH") {
        headers["X-Upstream-Run-Id"] = "latest";
      }
      const res = await fetch(url, { method: "POST", credentials: "same-origin", headers });
      let body = {};
      try {
        body = await res.json();
      } catch (e) {
        body = {};
      }
      const what = body.status || body.error || "";
      const detail = body.message || body.runId || body.loopId || "";
      toast("HTTP " + res.status + " " + what + (detail ? " · " + detail : ""));
      pollOverview();
    } catch (err) {
      toast("request failed: " + err.message);
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button);
  });

  // -- the run page ------------------------------------------------------------

  const SVG = "http://www.w3.org/2000/svg";

  function svgEl(name, attrs) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    return el;
  }

  function drawChart(svg, data) {
    const rows = data.samples;
    const W = 600, H = 200, P = 4;
    const parts = [];
    if (rows.length < 2) {
      const t = svgEl("text", { x: 10, y: 100, "font-size": 12, fill: "#687083" });
      t.textContent = rows.length ? "collecting samples…" : "no samples for this run in this process";
      svg.replaceChildren(t);
      return;
    }
    const t0 = rows[0][0], t1 = rows[rows.length - 1][0];
    const top = Math.max(data.rateLimit || 1, ...rows.map((r) => Math.max(r[3], r[5]))) * 1.1;
    const x = (t) => P + ((t - t0) / Math.max(1e-9, t1 - t0)) * (W - 2 * P);
    const y = (v) => H - P - (v / top) * (H - 2 * P);
    rows.forEach((r, i) => {
      if (r[6] && i > 0) {
        const x0 = x(rows[i - 1][0]);
        parts.push(svgEl("rect", { x: x0, y: 0, width: Math.max(1, x(r[0]) - x0), height: H,
          fill: "#ffd58a", opacity: 0.6 }));
      }
    });
    const line = (col, colour, dash) =>
      svgEl("polyline", {
        points: rows.map((r) => x(r[0]).toFixed(1) + "," + y(r[col]).toFixed(1)).join(" "),
        fill: "none", stroke: colour, "stroke-width": 1.5, "stroke-dasharray": dash || "none",
        "vector-effect": "non-scaling-stroke",
      });
    parts.push(line(5, "#687083", "4 3"), line(3, "#2f6fde"));
    rows.forEach((r) => {
      if (r[4] > 0) {
        parts.push(svgEl("line", { x1: x(r[0]), x2: x(r[0]), y1: H - 24, y2: H, stroke: "#d64545",
          "stroke-width": 2, "vector-effect": "non-scaling-stroke", "data-429": r[4] }));
      }
    });
    svg.replaceChildren(...parts);
    const scale = document.getElementById("chart-scale");
    if (scale) setText(scale, "top of the chart: " + Math.round(top) + " req/s");
  }

  function renderTimeline(list, events) {
    for (const e of events) {
      const key = e.kind + "@" + e.t;
      if (list.querySelector('[data-key="' + CSS.escape(key) + '"]')) continue;
      const li = document.createElement("li");
      li.dataset.key = key;
      const time = document.createElement("time");
      time.textContent = new Date(e.t * 1000).toISOString();
      li.append(time, " " + e.text);
      list.append(li);
    }
  }

  async function pollRun(box) {
    const id = encodeURIComponent(box.dataset.run);
    try {
      const [run, samples] = await Promise.all([
        getJson("/api/internal/runs/" + id),
        getJson("/api/internal/runs/" + id + "/samples"),
      ]);
      const badge = field(box, "status");
      setText(badge, run.status);
      badge.className = "badge s-" + run.status;
      const total = run.totalKeys;
      setText(field(box, "count"), run.recordsProcessed.toLocaleString("en-US") + " / " +
        (total === null ? "-" : total.toLocaleString("en-US")));
      setText(field(box, "failed"), run.recordsFailed.toLocaleString("en-US"));
      setText(field(box, "rate"), run.ratePerSecond === null ? "-" : run.ratePerSecond.toFixed(1) + "/s");
      setProgress(field(box, "progress"), total ? Math.min(1, run.recordsProcessed / total) : null);
      const pause = run.pause && run.pause.code ? "paused: " + run.pause.code + " " + (run.pause.reason || "") +
        (run.pause.until ? ", next try " + run.pause.until : "") : "";
      setHidden(field(box, "pause"), pause);
      drawChart(document.getElementById("chart"), samples);
      renderTimeline(document.getElementById("timeline"), samples.events);
      if (run.terminal && box.dataset.terminal !== "true") {
        window.location.reload(); // show the manifest and final files once
        return;
      }
      if (!run.terminal) setTimeout(() => pollRun(box), RUN_POLL_MS);
    } catch (err) {
      setTimeout(() => pollRun(box), RUN_POLL_MS * 2);
    }
  }

  const runBox = document.getElementById("run");
  if (runBox) {
    pollRun(runBox);
  } else if (document.getElementById("phases")) {
    pollOverview();
    setInterval(pollOverview, POLL_MS);
  }
})();
