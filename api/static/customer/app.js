// The customer's ident page: consent -> camera check -> waiting room / live call -> TAN -> done.
// Plain JavaScript, no build step. State comes from the server (WebSocket, with polling as a fallback);
// the video goes over WebRTC to the server, which answers guidance and check status on a data channel.
"use strict";
(() => {
  const token = decodeURIComponent(location.pathname.split("/")[2] || "");
  const api = (path) => `/ident/${encodeURIComponent(token)}/api/${path}`;
  const $ = (id) => document.getElementById(id);
  // Ask for 720p: the MRZ and the document's fine print need it (the server's answer allows the bitrate).
  const VIDEO_CONSTRAINTS = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15, max: 30 },
                              facingMode: "user" };
  const ICE_GATHER_TIMEOUT_MS = 4000;  // the server does not trickle: send the offer with its candidates
  const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
  const DISCONNECTED_GRACE_MS = 2500;  // "disconnected" often recovers by itself within a second or two
  const POLL_MS = 2000;

  // What the tests (and a curious developer) can inspect; no personal data lives here.
  const ui = window.videoident = {
    step: "loading", state: null, guidance: [], guidanceSeen: [], checks: {}, connects: 0, reconnects: 0,
    connection: "new", channelMessages: 0,
  };
  let lang = "en";
  let stream = null, pc = null, channel = null, reconnectTimer = null, disconnectedTimer = null;
  let attempt = 0, wantLive = false, socket = null, pollTimer = null, audioContext = null;
  // A TAN or cancel reply is awaited: a session that ends meanwhile may have ended *because* of that request
  // (right TAN, cancelled), so "ended" waits for the reply, which knows (the events socket says "completed" or
  // "cancelled" itself when it can).
  let awaitingReply = false, endedDuringReply = false;
  // Steps in which the customer may cancel (and the server says the session still can be).
  const CANCEL_STEPS = ["consent", "check", "live"];

  // ---------------------------------------------------------------- translation
  function t(key, vars) {
    const table = window.I18N[lang] || window.I18N.en;
    let text = table[key] ?? window.I18N.en[key] ?? key;
    const all = Object.assign(contextVars(), vars || {});
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in all ? String(all[name]) : m));
  }
  function contextVars() {
    const s = ui.state || {};
    const purpose = s.purpose || "account_opening";
    return {
      bank: s.bank || "", years: s.retention_days ? Math.round(s.retention_days / 365) : 5,
      purpose: (window.I18N[lang] || {})["purpose_" + purpose] || "",
      purpose_short: (window.I18N[lang] || {})["purpose_short_" + purpose] || "",
    };
  }
  function setLang(code) {
    lang = window.I18N[code] ? code : "en";
    document.documentElement.lang = lang;
    document.documentElement.dir = window.I18N[lang].dir;
    $("lang").value = lang;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    try { localStorage.setItem("videoident.lang", lang); } catch (e) { /* private mode */ }
    renderDynamic();
  }
  $("lang").addEventListener("change", (e) => setLang(e.target.value));

  // ---------------------------------------------------------------- steps
  function show(step) {
    ui.step = step;
    document.querySelectorAll("section.step").forEach((s) => { s.hidden = s.id !== "step-" + step; });
    const order = ["consent", "check", "waiting", "tan"];
    // An ident that ended without the TAN (ended, cancelled) marks no step as done.
    const current = { consent: 0, check: 1, live: 2, tan: 3, done: 4 }[step];
    document.querySelectorAll(".steps li").forEach((li) => {
      const i = order.indexOf(li.dataset.step);
      li.classList.toggle("current", i === current);
      li.classList.toggle("done", current !== undefined && i < current);
    });
    renderCancel();
  }
  function renderCancel() {
    const may = !!(ui.state && ui.state.may_cancel) && CANCEL_STEPS.includes(ui.step);
    $("cancel-area").hidden = !may;
    if (!may) $("cancel-confirm").hidden = true;
  }

  function applyState(state) {
    ui.state = state;
    $("bank-name").textContent = state.bank || "";
    if (state.status === "ended") return finish("ended");
    switch (state.status) {
      case "created":
        if (ui.step === "loading") show("consent");
        break;
      case "waiting": case "in_call": case "review":
        if (ui.step === "loading" || ui.step === "consent") show("check");
        if (ui.step === "check" && stream && wantLive) show("live");
        break;
      case "approved": case "tan_pending":
        stopLive();
        if (ui.step !== "tan") { show("tan"); $("tan-input").focus(); }
        break;
      case "completed": finish("done"); break;
      default: stopLive(); show("ended");
    }
    renderDynamic();
  }

  function renderDynamic() {
    const s = ui.state;
    if (!s) return;
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    const queue = s.queue;
    $("queue-line").textContent = !queue ? "" :
      queue.position <= 1 ? t("queue_next") + " " + t("queue_wait", { minutes: Math.max(1, Math.round(queue.estimated_wait_s / 60)) })
        : t("queue_position", { position: queue.position }) + " " +
          t("queue_wait", { minutes: Math.max(1, Math.round(queue.estimated_wait_s / 60)) });
    const inCall = s.status === "in_call" || s.status === "review";
    $("waiting-title").textContent = inCall ? t("in_call") : t("waiting_title");
    $("agent-code-box").hidden = !(inCall && s.agent_code);
    $("agent-code").textContent = s.agent_code || "";
    renderGuidance();
    renderChecks();
    renderCancel();
  }

  function renderGuidance() {
    const box = $("guidance");
    const code = ui.guidance[0];
    const text = code ? t("g_" + code) : "";
    box.hidden = !code || text === "g_" + code;
    box.textContent = box.hidden ? "" : text;
  }

  function renderChecks() {
    const list = $("checks");
    list.textContent = "";
    // The customer sees progress only (done or not yet): never why a check did not pass.
    for (const name of ["document", "tilt", "hologram", "mrz", "face", "liveness"]) {
      if (!(name in ui.checks)) continue;
      const li = document.createElement("li");
      li.textContent = t("c_" + name);
      li.classList.toggle("done", ui.checks[name] === "pass");
      list.appendChild(li);
    }
  }

  // ---------------------------------------------------------------- server state
  async function fetchState() {
    const response = await fetch(api("state"), { cache: "no-store" });
    if (response.status === 404) {
      if (ui.step === "tan" || ui.step === "live" || ui.step === "done") finish("ended");
      else show("invalid");
      return null;
    }
    if (!response.ok) throw new Error("state " + response.status);
    const state = await response.json();
    applyState(state);
    return state;
  }

  function listen() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    try {
      socket = new WebSocket(`${scheme}://${location.host}${api("events")}`);
    } catch (e) { return poll(); }
    socket.onmessage = (e) => {
      const state = JSON.parse(e.data);
      if (state.status === "completed") { finish("done"); return; }
      if (state.status === "cancelled") { finish("cancelled"); return; }
      if (state.status === "ended") { finish(ui.step === "loading" ? "invalid" : "ended"); return; }
      applyState(state);
    };
    socket.onclose = () => { socket = null; if (!["done", "ended", "invalid"].includes(ui.step)) poll(); };
  }
  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      try { await fetchState(); } catch (e) { /* offline for a moment */ }
      if (!["done", "ended", "invalid"].includes(ui.step)) poll();
    }, POLL_MS);
  }

  // ---------------------------------------------------------------- consent
  $("consent-box").addEventListener("change", (e) => { $("consent-next").disabled = !e.target.checked; });
  $("consent-next").addEventListener("click", () => { show("check"); startCheck(); });

  // ---------------------------------------------------------------- camera and microphone check
  async function startCheck() {
    $("check-error").hidden = true;
    $("check-retry").hidden = true;
    $("check-next").disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: VIDEO_CONSTRAINTS, audio: true });
    } catch (e) {
      // Tell the customer what to fix: permission, no camera at all, or a camera another app holds.
      const reason = e && e.name === "NotFoundError" ? "camera_missing"
        : e && (e.name === "NotReadableError" || e.name === "AbortError") ? "camera_busy" : "camera_denied";
      $("check-error").textContent = t(reason);
      $("check-error").hidden = false;
      $("check-retry").hidden = false;
      $("camera-status").textContent = "—";
      return;
    }
    const video = stream.getVideoTracks()[0];
    $("preview").srcObject = stream;
    $("self-video").srcObject = stream;
    $("camera-status").removeAttribute("data-t");
    $("camera-status").textContent = t("camera_ok", { label: video.label || "?" });
    $("camera-status").className = "ok";
    $("check-next").disabled = false;
    meterMicrophone();
  }
  $("check-retry").addEventListener("click", startCheck);

  function meterMicrophone() {
    const tracks = stream.getAudioTracks();
    const status = $("mic-status");
    status.removeAttribute("data-t");
    if (!tracks.length) { status.textContent = "—"; return; }
    try {
      audioContext = audioContext || new AudioContext();
      const source = audioContext.createMediaStreamSource(new MediaStream(tracks));
      const analyser = audioContext.createAnalyser();
      analyser.fftSize = 512;
      source.connect(analyser);
      const data = new Uint8Array(analyser.fftSize);
      let heard = false;
      const tick = () => {
        analyser.getByteTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
        const level = Math.min(1, peak / 64);
        $("mic-level").style.width = Math.round(level * 100) + "%";
        if (level > 0.05) heard = true;
        status.textContent = heard ? t("mic_ok") : t("mic_silent");
        status.className = heard ? "ok" : "";
        if (ui.step === "check") requestAnimationFrame(tick);
      };
      tick();
    } catch (e) { status.textContent = "—"; }
  }

  $("check-next").addEventListener("click", async () => {
    $("check-next").disabled = true;
    const response = await fetch(api("join"), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ consent: true, consent_version: ui.state.consent_version, locale: lang, camera_ok: true }),
    });
    if (!response.ok) { $("check-next").disabled = false; return; }
    applyState(await response.json());
    wantLive = true;
    show("live");
    connect();
  });

  // ---------------------------------------------------------------- WebRTC
  function cameraSettings() {
    const track = stream && stream.getVideoTracks()[0];
    if (!track) return {};
    const s = track.getSettings();
    return { label: track.label, width: s.width, height: s.height, frameRate: s.frameRate };
  }

  function waitForIce(peer) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (peer.iceGatheringState === "complete") { peer.removeEventListener("icegatheringstatechange", done); resolve(); } };
      peer.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ICE_GATHER_TIMEOUT_MS);
    });
  }

  async function connect() {
    if (!wantLive || !stream) return;
    clearTimeout(reconnectTimer);
    // The operator's STUN/TURN from the state (fresh short-lived TURN credentials each poll); [] when none.
    const peer = new RTCPeerConnection({ iceServers: (ui.state && ui.state.ice_servers) || [] });
    pc = ui.pc = peer;
    for (const track of stream.getTracks()) {
      // Keep the resolution when the CPU or the network is short: the document's fine print and MRZ need
      // pixels more than frames ("detail" makes Chrome drop frame rate instead of scaling down).
      if (track.kind === "video" && "contentHint" in track) track.contentHint = "detail";
      const sender = peer.addTrack(track, stream);
      if (track.kind === "video") preferResolution(sender);
    }
    const dc = peer.createDataChannel("control");
    channel = dc;
    dc.onopen = () => { attempt = 0; dc.send(JSON.stringify({ type: "camera", settings: cameraSettings() })); };
    dc.onmessage = (e) => onMessage(JSON.parse(e.data));
    dc.onclose = () => { if (pc === peer) scheduleReconnect(); };
    peer.ontrack = (e) => {
      const video = $("agent-video");
      if (e.track.kind === "video") {
        video.srcObject = e.streams[0] || new MediaStream([e.track]);
        // The placeholder stays until the agent's picture actually arrives.
        video.onresize = () => { $("agent-placeholder").hidden = video.videoWidth > 0; };
      } else if (e.track.kind === "audio" && !(e.streams[0] && e.streams[0] === video.srcObject)) {
        const audio = new Audio();
        audio.srcObject = e.streams[0] || new MediaStream([e.track]);
        audio.play().catch(() => {});
      }
    };
    peer.onconnectionstatechange = () => {
      if (pc !== peer) return;
      ui.connection = peer.connectionState;
      $("connection").hidden = ["new", "connecting", "connected"].includes(peer.connectionState);
      clearTimeout(disconnectedTimer);
      if (peer.connectionState === "failed" || peer.connectionState === "closed") scheduleReconnect();
      if (peer.connectionState === "disconnected") disconnectedTimer = setTimeout(scheduleReconnect, DISCONNECTED_GRACE_MS);
      if (peer.connectionState === "connected") ui.connects += 1;
    };
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await waitForIce(peer);
      const response = await fetch(api("offer"), {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sdp: peer.localDescription.sdp, type: peer.localDescription.type }),
      });
      if (response.status === 404 || response.status === 409) { wantLive = false; peer.close(); return fetchState(); }
      if (!response.ok) throw new Error("offer " + response.status);
      await peer.setRemoteDescription(await response.json());
    } catch (e) {
      if (pc === peer) scheduleReconnect();
    }
  }

  async function preferResolution(sender) {
    try {
      const params = sender.getParameters();
      params.degradationPreference = "maintain-resolution";
      await sender.setParameters(params);
    } catch (e) { /* not supported by this browser: contentHint still applies */ }
  }

  function scheduleReconnect() {
    if (!wantLive || reconnectTimer) return;
    $("connection").hidden = false;
    const old = pc;
    pc = null; channel = null;
    if (old) { try { old.close(); } catch (e) { /* already closed */ } }
    const delay = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
    attempt += 1;
    ui.reconnects += 1;
    reconnectTimer = setTimeout(() => { reconnectTimer = null; connect(); }, delay);
  }

  function onMessage(message) {
    ui.channelMessages += 1;
    if (message.type === "guidance") {
      ui.guidance = message.codes || [];
      for (const code of ui.guidance) if (!ui.guidanceSeen.includes(code)) ui.guidanceSeen.push(code);
      renderGuidance();
    } else if (message.type === "checks") {
      ui.checks = message.checks || {};
      renderChecks();
    } else if (message.type === "status") {
      fetchState().catch(() => {});
    }
  }

  function stopLive() {
    wantLive = false;
    clearTimeout(reconnectTimer); reconnectTimer = null;
    if (pc) { try { pc.close(); } catch (e) { /* closed */ } pc = null; }
    if (stream) { stream.getTracks().forEach((track) => track.stop()); stream = null; }
    $("connection").hidden = true;
  }
  function endLive(step) { stopLive(); show(step); }
  // The session is over: "done" once confirmed, never replaced by "ended"; "ended" waits for a TAN reply.
  function finish(step) {
    if (ui.step === "done") return;
    if (step === "ended" && awaitingReply) { endedDuringReply = true; return; }
    endLive(step);
  }

  // ---------------------------------------------------------------- TAN
  $("tan-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const message = $("tan-message");
    let result = null;
    awaitingReply = true; endedDuringReply = false;
    try {
      const response = await fetch(api("tan"), {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ tan: $("tan-input").value }),
      });
      if (response.ok) result = await response.json();
    } catch (err) { /* offline for a moment: the state below decides */ }
    awaitingReply = false;
    if (!result) {
      if (endedDuringReply) finish("ended");
      else message.textContent = t("tan_not_pending");
      return;
    }
    message.className = result.outcome === "completed" ? "ok" : "error";
    const texts = { wrong: t("tan_wrong", { left: result.attempts_left }), expired: t("tan_expired"),
                    malformed: t("tan_malformed"), failed: t("tan_failed"), not_pending: t("tan_not_pending") };
    message.textContent = texts[result.outcome] || "";
    if (result.outcome === "completed") finish("done");
    else if (result.outcome === "failed" || endedDuringReply) finish("ended");
    $("tan-input").value = "";
  });
  $("tan-resend").addEventListener("click", async () => {
    const response = await fetch(api("tan/resend"), { method: "POST" });
    $("tan-message").className = response.ok ? "ok" : "error";
    $("tan-message").textContent = response.ok ? t("tan_resent") : t("tan_resend_wait");
  });

  // ---------------------------------------------------------------- cancel (asked once more before it happens)
  $("cancel-open").addEventListener("click", () => {
    $("cancel-message").textContent = "";
    $("cancel-confirm").hidden = false;
    $("cancel-no").focus();
  });
  $("cancel-no").addEventListener("click", () => { $("cancel-confirm").hidden = true; });
  $("cancel-yes").addEventListener("click", async () => {
    $("cancel-yes").disabled = true;
    wantLive = false;  // the server ends the media: no reconnect attempts meanwhile
    awaitingReply = true; endedDuringReply = false;
    let ok = false;
    try {
      const response = await fetch(api("cancel"), { method: "POST" });
      ok = response.ok;
    } catch (err) { /* offline for a moment: the state below decides */ }
    awaitingReply = false;
    $("cancel-yes").disabled = false;
    if (ok) return finish("cancelled");
    $("cancel-message").textContent = t("cancel_failed");
    if (endedDuringReply) return finish("ended");
    if (ui.step === "live" && stream) {  // still in the call: resume reconnecting if the link dropped meanwhile
      wantLive = true;
      if (!pc || ["failed", "closed", "disconnected"].includes(pc.connectionState)) scheduleReconnect();
    }
    fetchState().catch(() => {});
  });

  // ---------------------------------------------------------------- start
  (async () => {
    let stored = null;
    try { stored = localStorage.getItem("videoident.lang"); } catch (e) { /* private mode */ }
    const browser = (navigator.language || "en").slice(0, 2);
    setLang(stored || (window.I18N[browser] ? browser : "en"));
    let state = null;
    try { state = await fetchState(); } catch (e) { show("invalid"); return; }
    if (!state) return;
    if (!stored && state.locale) setLang(state.locale);
    if (["waiting", "in_call", "review"].includes(state.status)) startCheck();  // a reload: check the camera again
    listen();
  })();
})();
