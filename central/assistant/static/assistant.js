// nfc-hospital help assistant widget: the phone page's chat box and the station's
// "도움말 / Help" screen. Vanilla JS, CSP-clean (no inline code, no innerHTML: every text from
// the server is set with textContent).
//
// Use:
//   <div id="help" data-lang="ko"></div>
//   <script src="/assistant/static/assistant.js" defer></script>
//   NfchAssistant.mount(document.getElementById("help"), {
//     askUrl: "/p/v/VISIT/api/ask",   // phone page (cookie session); or "/api/v1/assistant/ask"
//     topUrl: "/api/v1/assistant/top-questions",
//     lang: "ko",
//     stationId: null,                  // a kiosk passes its station id (routes start there)
//     typing: true,                     // false on the station: large buttons only
//   });
// or, with no script of the page's own, mark the element and it mounts itself:
//   <div data-nfch-assistant data-lang="ko" data-ask-url="/p/v/VISIT/api/ask"
//        data-station-id="st-lobby" data-typing="false"></div>
(function () {
  "use strict";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function errorText(body, lang) {
    const err = body && body.error;
    if (!err) return lang === "ko" ? "잠시 후 다시 시도해 주세요." : "Please try again shortly.";
    return lang === "ko" ? err.message_ko : err.message_en;
  }

  function mount(root, opts) {
    const lang = opts.lang || root.dataset.lang || "ko";
    const askUrl = opts.askUrl || "/api/v1/assistant/ask";
    const topUrl = opts.topUrl || "/api/v1/assistant/top-questions";
    root.classList.add("nfch-assistant");
    const buttons = el("div", "nfch-assistant-top");
    const log = el("div", "nfch-assistant-log");
    log.setAttribute("aria-live", "polite");
    root.append(buttons, log);

    function show(question, answer) {
      const item = el("div", "nfch-assistant-item");
      item.append(el("p", "nfch-assistant-q", question));
      item.append(el("p", "nfch-assistant-a nfch-kind-" + answer.kind, answer.text));
      if (answer.route && answer.route.steps && answer.route.steps.length) {
        const ol = el("ol", "nfch-assistant-route");
        for (const step of answer.route.steps) ol.append(el("li", null, step[lang] || step.en));
        item.append(ol);
      }
      log.prepend(item);
      buttons.replaceChildren();
      for (const s of answer.suggestions || []) addButton(s);
    }

    async function ask(question) {
      const body = { question: question, lang: lang };
      if (opts.stationId) body.station_id = opts.stationId;
      let resp;
      try {
        resp = await fetch(askUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
      } catch (e) {
        log.prepend(el("p", "nfch-assistant-error", errorText(null, lang)));
        return;
      }
      const data = await resp.json().catch(() => null);
      if (!resp.ok) {
        log.prepend(el("p", "nfch-assistant-error", errorText(data, lang)));
        return;
      }
      show(question, data);
    }

    function addButton(text) {
      const b = el("button", "nfch-assistant-button", text);
      b.type = "button";
      b.addEventListener("click", () => ask(text));
      buttons.append(b);
    }

    fetch(topUrl + "?lang=" + encodeURIComponent(lang), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : { questions: [] }))
      .then((doc) => { for (const q of doc.questions) addButton(q.text); })
      .catch(() => {});

    if (opts.typing !== false) {
      const form = el("form", "nfch-assistant-form");
      const input = el("input", "nfch-assistant-input");
      input.type = "text";
      input.maxLength = 300;
      input.placeholder = lang === "ko" ? "무엇이든 물어보세요" : "Ask a question";
      const send = el("button", "nfch-assistant-send", lang === "ko" ? "묻기" : "Ask");
      send.type = "submit";
      form.append(input, send);
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        const q = input.value.trim();
        if (q) { input.value = ""; ask(q); }
      });
      root.prepend(form);
    }
    return { ask: ask };
  }

  window.NfchAssistant = { mount: mount };

  function autoMount() {
    for (const root of document.querySelectorAll("[data-nfch-assistant]")) {
      mount(root, {
        lang: root.dataset.lang,
        askUrl: root.dataset.askUrl,
        topUrl: root.dataset.topUrl,
        stationId: root.dataset.stationId || null,
        typing: root.dataset.typing !== "false",
      });
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", autoMount);
  } else {
    autoMount();
  }
})();
