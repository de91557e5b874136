// The agent review console: login, queue, the live call with its check panel, captures, decision, review.
// Plain JS, no build step. Every text from the server goes in with textContent (never innerHTML).
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const POLL_QUEUE_MS = 2000;
  const POLL_CALL_MS = 1000;
  const ICE_GATHER_TIMEOUT_MS = 4000;   // the server does not trickle ICE: the offer carries the candidates
  const OFFER_RETRY_MS = 2000;          // the customer may connect after the agent opened the call
  const SECTIONS = ["quality", "document", "tilt", "hologram", "mrz", "face", "liveness", "injection"];
  const PURPOSES = { account_opening: "account opening", reactivation: "reactivation" };

  const ui = { me: null, reasons: {}, timer: null, sessionId: null, pc: null, live: null, call: null };
  window.consoleUi = ui;  // for tests and support: read-only state

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
    return node;
  }

  async function api(path, options) {
    const init = Object.assign({ headers: {}, cache: "no-store" }, options || {});
    if (init.body !== undefined) { init.method = init.method || "POST"; init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(init.body); }
    const response = await fetch("/console/api/" + path, init);
    if (response.status === 401 && path !== "login") { showLogin(); throw new Error("unauthenticated"); }
    return response;
  }

  function show(view) {
    for (const v of ["login", "queue", "call"]) $("view-" + v).hidden = v !== view;
    clearTimeout(ui.timer);
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // ---------------------------------------------------------------- login
  function showLogin() { stopCall(); $("who").hidden = true; show("login"); $("login-name").focus(); }

  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").hidden = true;
    $("login-submit").disabled = true;
    try {
      const r = await api("login", { body: { name: $("login-name").value, password: $("login-password").value, totp: $("login-totp").value } });
      const body = await r.json();
      if (!r.ok) { $("login-error").textContent = body.detail || "login failed"; $("login-error").hidden = false; return; }
      $("login-password").value = ""; $("login-totp").value = "";
      await start();
    } finally { $("login-submit").disabled = false; }
  });

  $("logout").addEventListener("click", async () => { await api("logout", { method: "POST" }); showLogin(); });

  async function start() {
    const r = await api("me");
    const body = await r.json();
    ui.me = body.agent; ui.reasons = body.reasons;
    $("who-name").textContent = ui.me.name; $("who-role").textContent = ui.me.role; $("who").hidden = false;
    showQueue();
  }

  // ---------------------------------------------------------------- queue
  function showQueue() { stopCall(); show("queue"); pollQueue(); }

  async function pollQueue() {
    if ($("view-queue").hidden) return;
    try {
      const q = await (await api("queue")).json();
      $("q-waiting").textContent = q.waiting.length;
      $("q-longest").textContent = duration(q.longest_wait_s);
      $("q-incall").textContent = q.in_call;
      $("q-review").textContent = q.in_review;
      $("take-next").textContent = q.current_call ? "Return to your open call" : "Take next call";
      const rows = q.waiting.map((c) => el("tr", {}, el("td", {}, c.bank), el("td", {}, PURPOSES[c.purpose] || c.purpose), el("td", {}, duration(c.wait_s))));
      $("q-list").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "3", class: "muted" }, "Nobody is waiting."))]));
      $("reviews-box").hidden = ui.me.role !== "supervisor";
      $("r-list").replaceChildren(...q.reviews.map((r) => {
        const button = el("button", {}, r.own ? "your override" : "Review");
        button.disabled = r.own;
        button.addEventListener("click", () => openCall(r.session_id, true));
        return el("tr", {}, el("td", {}, r.bank), el("td", {}, PURPOSES[r.purpose] || r.purpose), el("td", {}, new Date(r.since).toLocaleTimeString()), el("td", {}, button));
      }));
    } catch (e) { /* shown on the next poll */ }
    ui.timer = setTimeout(pollQueue, POLL_QUEUE_MS);
  }

  $("take-next").addEventListener("click", async () => {
    $("take-next").disabled = true;
    try {
      const body = await (await api("next", { method: "POST" })).json();
      if (body.session_id) openCall(body.session_id, false);
      else $("take-message").textContent = "Nobody is waiting right now.";
    } finally { $("take-next").disabled = false; }
  });

  // ---------------------------------------------------------------- the call
  async function openCall(sessionId, review) {
    stopCall();
    ui.sessionId = sessionId;
    const r = await api("calls/" + sessionId);
    if (!r.ok) { $("take-message").textContent = (await r.json()).detail || "cannot open the session"; return; }
    ui.call = await r.json();
    show("call");
    const s = ui.call.session;
    $("c-bank").textContent = s.bank;
    $("c-purpose").textContent = $("c-purpose-2").textContent = PURPOSES[s.purpose] || s.purpose;
    $("c-ref").textContent = s.reference;
    $("c-code").textContent = ui.call.agent_code || ""; $("c-code-box").hidden = !ui.call.agent_code;
    $("c-status").textContent = s.status;
    for (const kind of ["front", "back", "face"]) { $("cap-" + kind).hidden = true; $("capcap-" + kind).textContent = ""; }
    for (const box of document.querySelectorAll("[data-confirm]")) box.checked = false;
    $("decision-card").hidden = review; $("review-card").hidden = !review;
    ui.review = review; ui.evidenceShown = ""; ui.featureKey = "";
    for (const id of ["video-wrap", "capture-card", "zoom-card"]) $(id).hidden = review;
    $("evidence-card").hidden = !review; $("evidence").replaceChildren();
    for (const b of document.querySelectorAll("[data-capture]")) b.disabled = review;
    $("zoom-box").hidden = true; $("gaps-box").hidden = true; $("decision-message").textContent = "";
    $("mask-note").textContent = ui.call.identity.masked ? "(masked for your role)" : "";
    const notes = ui.call.notes || {};
    $("note-override").textContent = notes.override_reason || "—";
    $("note-comment").textContent = notes.comment || "—";
    fillReasons();
    if (!review) connectVideo();
    pollCall();
  }

  function stopCall() {
    ui.sessionId = null; ui.live = null;
    clearTimeout(ui.offerTimer);
    if (ui.pc) { try { ui.pc.close(); } catch (e) { /* closed */ } ui.pc = null; }
    if (ui.localStream) { for (const t of ui.localStream.getTracks()) t.stop(); ui.localStream = null; }
    $("remote-video").srcObject = null; $("video-placeholder").hidden = false;
  }

  async function connectVideo() {
    const sessionId = ui.sessionId;
    if (!ui.localStream) {
      try { ui.localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true }); }
      catch (e) { ui.localStream = null; }  // an agent without a camera still sees and hears the customer
    }
    if (ui.sessionId !== sessionId) return;
    // The operator's STUN/TURN (short-lived TURN credentials from the call view); [] when none is configured.
    const pc = new RTCPeerConnection({ iceServers: (ui.call && ui.call.ice_servers) || [] });
    ui.pc = pc;
    if (ui.localStream) for (const t of ui.localStream.getTracks()) pc.addTrack(t, ui.localStream);
    else { pc.addTransceiver("video", { direction: "recvonly" }); pc.addTransceiver("audio", { direction: "recvonly" }); }
    pc.ontrack = (e) => {
      if (e.track.kind !== "video") {
        const audio = new Audio(); audio.srcObject = new MediaStream([e.track]); audio.play().catch(() => {});
        return;
      }
      const video = $("remote-video");
      video.srcObject = new MediaStream([e.track]);
      video.onresize = () => { $("video-placeholder").hidden = video.videoWidth > 0; };
    };
    pc.onconnectionstatechange = () => { $("c-conn").textContent = "video " + pc.connectionState; };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => { if (pc.iceGatheringState === "complete") resolve(); });
      setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
    });
    const r = await api("calls/" + sessionId + "/offer", { body: { sdp: pc.localDescription.sdp, type: pc.localDescription.type } });
    if (r.status === 409 && ui.sessionId === sessionId) {
      pc.close(); ui.pc = null; $("c-conn").textContent = "the customer is not connected yet";
      ui.offerTimer = setTimeout(connectVideo, OFFER_RETRY_MS);
      return;
    }
    if (!r.ok) { $("c-conn").textContent = "video failed"; return; }
    await pc.setRemoteDescription(await r.json());
  }

  async function pollCall() {
    const sessionId = ui.sessionId;
    if (!sessionId) return;
    try {
      const r = await api("calls/" + sessionId + "/live");
      if (r.ok) { ui.live = await r.json(); renderLive(ui.live); }
    } catch (e) { /* next poll */ }
    if (ui.sessionId === sessionId) ui.timer = setTimeout(pollCall, POLL_CALL_MS);
  }

  function verdictBadge(v) { const cls = v || "pending"; return el("span", { class: "verdict " + cls, "data-verdict": cls }, v || "waiting"); }

  function detailFor(name, s) {
    const d = el("div", { class: "detail" }, s.reason ? s.reason.text : "");
    if (name === "tilt" && s.reached_deg) {
      const bars = el("div", { class: "bars" });
      for (const dir of ["left", "right", "towards", "away"]) {
        const reached = s.reached_deg[dir] || 0;
        const pct = Math.min(100, 100 * reached / (s.required_deg || 1));
        const fill = el("span", { class: reached >= s.required_deg ? "ok" : "" }); fill.style.width = pct + "%";
        bars.append(el("span", {}, dir), el("div", { class: "bar" }, fill), el("span", {}, reached.toFixed(0) + "°"));
      }
      d.append(bars);
    } else if (name === "hologram" && s.score != null) {
      d.append(el("div", {}, "response " + s.score.toFixed(2) + (s.yaw_span_deg != null ? ` · tilted ${s.yaw_span_deg}° / ${s.pitch_span_deg}°` : "")));
    } else if (name === "face") {
      if (s.distance != null) d.append(el("div", {}, `distance ${Number(s.distance).toFixed(3)} (match below ${s.threshold})`));
    } else if (name === "quality" && s.score != null) {
      d.append(el("div", {}, "good frames " + Math.round(100 * s.score) + "%"));
    } else if (name === "injection" && s.signals) {
      d.append(el("div", {}, Object.entries(s.signals).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join(" · ")));
    }
    return d;
  }

  function renderLive(live) {
    if (live.status === "cancelled" && !ui.review) {  // the customer cancelled on their page: the call is over
      showQueue();
      $("take-message").textContent = "The customer cancelled the identification; the bank has been told.";
      return;
    }
    $("c-status").textContent = live.status;
    const report = live.report || {};
    $("overall").replaceChildren(verdictBadge(report.verdict));
    $("checks").replaceChildren(...SECTIONS.map((name) => {
      const s = report[name] || {};
      return el("li", { "data-check": name }, el("span", { class: "name" }, name), verdictBadge(s.verdict), detailFor(name, s));
    }));
    renderCompare(report.mrz || {});
    const featureKey = live.features.map((f) => f.code).join(",");
    if (featureKey !== ui.featureKey) {  // rebuilt only when the draw changes, so ticks and focus stay
      ui.featureKey = featureKey;
      $("features").replaceChildren(...live.features.map((f) => {
        const box = el("input", { type: "checkbox", "data-confirm": "feature:" + f.code, "aria-label": "inspected" });
        bindConfirm(box);
        return el("li", { "data-feature": f.code }, el("label", { class: "feature" }, box, el("strong", {}, f.name), " ",
          el("span", { class: "where" }, "— " + f.where)), el("div", {}, f.look_for));
      }));
    }
    // Recorded confirmations tick their box; a tick waiting for its request is never taken back by a poll.
    for (const box of document.querySelectorAll("[data-confirm]")) if (live.confirmed.includes(box.dataset.confirm)) box.checked = true;
    if (ui.review) showEvidence(live.evidence);
    const gaps = live.gaps || [];
    $("gaps").textContent = gaps.join(", ");
    $("gaps-box").hidden = !(gaps.length && selectedDecision() === "approved");
    if (!live.may_act && live.status !== "review") { $("decision-card").hidden = true; }
  }

  async function showEvidence(items) {
    const key = items.map((e) => e.id).join(",");
    if (key === ui.evidenceShown) return;
    ui.evidenceShown = key;
    const figures = [];
    for (const item of items) {
      const r = await api("calls/" + ui.sessionId + "/evidence/" + item.id);
      if (!r.ok) continue;
      const img = el("img", { alt: item.kind, src: URL.createObjectURL(await r.blob()) });
      figures.push(el("figure", { "data-evidence": item.kind }, img, el("figcaption", { class: "muted" },
        item.kind + (item.masked_fields && item.masked_fields.length ? " · masked: " + item.masked_fields.join(", ") : ""))));
    }
    $("evidence").replaceChildren(...(figures.length ? figures : [el("p", { class: "muted" }, "No stills were captured.")]));
  }

  function renderCompare(mrz) {
    const f = mrz.fields || {};
    const id = ui.call.identity || {};
    const rows = [
      ["Surname", f.surname, id.family_name],
      ["Given names", f.given_names, id.given_name],
      ["Birth date", f.birth_date, id.birthdate],
      ["Document no.", f.document_number, id.document_number],
      ["Nationality", f.nationality, id.nationality],
      ["Expiry", f.expiry_date, null],
    ];
    const norm = (v) => String(v || "").toUpperCase().replace(/[^A-Z0-9]/g, "");
    $("compare").replaceChildren(...rows.map(([label, fromMrz, claimed]) => {
      const differs = fromMrz && claimed && norm(fromMrz) !== norm(claimed) && !String(claimed).includes("•");
      return el("tr", {}, el("th", {}, label), el("td", { class: differs ? "diff mono" : "mono" }, fromMrz || "—"),
        el("td", { class: "muted" }, "compare on the document"), el("td", { class: differs ? "diff" : "" }, claimed || "—"));
    }));
    const box = $("mrz-lines");
    box.replaceChildren(...(mrz.lines || []).map((line) => el("div", { class: "line" }, line)));
    if (mrz.checks) {
      box.append(el("div", { class: "digits" }, ...Object.entries(mrz.checks).map(([k, v]) => el("span", { class: "verdict " + v }, k.replace(/_/g, " ")))));
    }
  }

  // captures
  for (const button of document.querySelectorAll("[data-capture]")) {
    button.addEventListener("click", async () => {
      const kind = button.dataset.capture;
      button.disabled = true;
      $("capture-message").textContent = "Capturing " + kind + "…";
      try {
        const r = await api("calls/" + ui.sessionId + "/capture", { body: { kind } });
        const body = await r.json().catch(() => ({ detail: "capture failed (" + r.status + ")" }));
        if (!r.ok) { $("capture-message").textContent = body.detail || "capture failed"; return; }
        $("cap-" + kind).src = body.thumbnail; $("cap-" + kind).hidden = false;
        const masked = body.masked_fields && body.masked_fields.length ? "masked: " + body.masked_fields.join(", ") : (kind === "face" ? "stored" : "stored (template unknown: kept sealed, not exported)");
        $("capcap-" + kind).textContent = masked;
        $("capture-message").textContent = "Stored " + kind + " in the vault.";
      } finally { button.disabled = false; }
    });
  }

  // zoom on the rectified document
  $("zoom-refresh").addEventListener("click", async () => {
    $("zoom-message").textContent = "Looking for the document…";
    const r = await api("calls/" + ui.sessionId + "/document.jpg");
    if (!r.ok) { $("zoom-message").textContent = (await r.json().catch(() => ({}))).detail || "no document in view"; return; }
    const img = $("zoom-img");
    if (img.src.startsWith("blob:")) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(await r.blob());
    $("zoom-box").hidden = false;
    $("zoom-message").textContent = "Click the image to magnify; move the pointer to pan.";
  });
  $("zoom-box").addEventListener("click", () => $("zoom-box").classList.toggle("on"));
  $("zoom-box").addEventListener("mousemove", (e) => {
    const box = $("zoom-box"); if (!box.classList.contains("on")) return;
    const rect = box.getBoundingClientRect();
    const x = (e.clientX - rect.left) / rect.width, y = (e.clientY - rect.top) / rect.height;
    $("zoom-img").style.transform = `translate(${-x * 150}%, ${-y * 150}%) scale(2.5)`;
  });
  $("zoom-box").addEventListener("mouseleave", () => { $("zoom-img").style.transform = ""; });

  // confirmations
  function bindConfirm(box) {
    box.addEventListener("change", async () => {
      if (!box.checked) { box.checked = true; return; }  // a confirmation is recorded; it cannot be taken back
      if (ui.review) return;
      await api("calls/" + ui.sessionId + "/confirm", { body: { item: box.dataset.confirm } });
    });
  }
  for (const box of document.querySelectorAll("[data-confirm]")) bindConfirm(box);

  // decision
  function selectedDecision() { const r = document.querySelector("input[name=decision]:checked"); return r ? r.value : null; }
  function fillReasons() {
    const decision = selectedDecision();
    const codes = decision ? ui.reasons[decision] || [] : [];
    $("reason").replaceChildren(el("option", { value: "" }, decision ? "choose a reason" : "choose a decision first"),
      ...codes.filter((c) => !c.startsWith("override_")).map((c) => el("option", { value: c }, c.replace(/_/g, " "))));
    $("gaps-box").hidden = !(ui.live && ui.live.gaps.length && decision === "approved");
  }
  for (const radio of document.querySelectorAll("input[name=decision]")) radio.addEventListener("change", fillReasons);

  $("decision-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const decision = selectedDecision();
    if (!decision || !$("reason").value) { $("decision-message").textContent = "Choose a decision and a reason."; return; }
    const body = { decision, reason_code: $("reason").value, comment: $("comment").value || null,
      override_reason: decision === "approved" && !$("gaps-box").hidden ? ($("override").value || null) : null };
    $("decide").disabled = true;
    try {
      const r = await api("calls/" + ui.sessionId + "/decision", { body });
      const result = await r.json().catch(() => ({ detail: "the decision failed (" + r.status + ")" }));
      if (r.status === 409 && result.blocked) {
        $("gaps").textContent = result.gaps.join(", "); $("gaps-box").hidden = false;
        $("decision-message").textContent = "Approval is blocked: see what is missing, or explain an override.";
        return;
      }
      if (!r.ok) { $("decision-message").textContent = result.detail || "the decision was not accepted"; return; }
      stopCall();
      $("decision-message").textContent = result.review ? "Sent to a supervisor's four-eyes review."
        : result.tan_sent ? "Approved: the TAN was sent to the customer." : "Decision recorded: " + result.status + (result.tan_problem ? " (" + result.tan_problem + ")" : "");
      $("c-status").textContent = result.status;
      ui.timer = setTimeout(showQueue, 2500);
    } finally { $("decide").disabled = false; }
  });

  $("release").addEventListener("click", async () => { await api("calls/" + ui.sessionId + "/release", { method: "POST" }); showQueue(); });
  $("back").addEventListener("click", showQueue);

  async function review(confirm) {
    const r = await api("reviews/" + ui.sessionId, { body: { confirm, comment: $("review-comment").value || null } });
    const result = await r.json();
    $("review-message").textContent = r.ok ? "Recorded: " + result.status + (result.tan_sent ? " (TAN sent)" : "") : (result.detail || "failed");
    if (r.ok) ui.timer = setTimeout(showQueue, 2000);
  }
  $("review-confirm").addEventListener("click", () => review(true));
  $("review-reject").addEventListener("click", () => review(false));

  // ---------------------------------------------------------------- boot
  (async () => {
    const r = await fetch("/console/api/me", { cache: "no-store" });
    if (r.ok) await start(); else showLogin();
  })();
})();
