/* The staff panel's small behaviours. Plain JS, no dependencies; every page works without it. */
(function () {
  "use strict";

  // ---------------------------------------------------------------- SMS segment counting
  // GSM 03.38: the basic set costs one septet, the extension set two (escape + char). Any
  // other character forces the whole message into UCS-2, counted in UTF-16 code units.
  const GSM7_BASIC = new Set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
      "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
  );
  const GSM7_EXTENDED = new Set("^{}\\[~]|€\f");

  function countSegments(text) {
    const offenders = [];
    let septets = 0;
    for (const ch of text) {
      if (GSM7_BASIC.has(ch)) {
        septets += 1;
      } else if (GSM7_EXTENDED.has(ch)) {
        septets += 2;
      } else if (!offenders.includes(ch)) {
        offenders.push(ch);
      }
    }
    const gsm = offenders.length === 0;
    const units = gsm ? septets : text.length; // a JS string's length is in UTF-16 units
    const single = gsm ? 160 : 70;
    const perPart = gsm ? 153 : 67;
    const segments = units <= single ? 1 : Math.ceil(units / perPart);
    const capacity = segments === 1 ? single : segments * perPart;
    return {
      characters: Array.from(text).length,
      encoding: gsm ? "GSM-7" : "UCS-2",
      units: units,
      segments: segments,
      remaining: capacity - units,
      nonGsm: offenders,
    };
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function describe(result) {
    let text =
      plural(result.characters, "character") +
      " · " +
      result.encoding +
      " · " +
      plural(result.segments, "segment") +
      " (" +
      result.remaining +
      " left)";
    if (result.nonGsm.length) {
      text += " · UCS-2 because of: " + result.nonGsm.slice(0, 8).join(" ");
    }
    return text;
  }

  // A template's placeholders as the app fills them in (data-values): "%(org)s" costs what
  // the organisation's name costs, not seven characters.
  function filled(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (placeholder, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : placeholder;
    });
  }

  // templates.as_sentence: the summary as it is sent, ending as a sentence.
  const SENTENCE_ENDS = ".!?…。！？۔؟।";
  const CLOSERS = "\"'”’»)]」』";
  function asSentence(text, fullStop) {
    const trimmed = text.trim();
    let end = trimmed.length;
    while (end > 0 && CLOSERS.includes(trimmed[end - 1])) end -= 1;
    const last = Array.from(trimmed.slice(0, end)).pop();
    if (!last || SENTENCE_ENDS.includes(last) || /\p{So}/u.test(last)) return trimmed;
    return trimmed + fullStop;
  }

  function setUpCounter(area) {
    const output = document.getElementById(area.dataset.segmentCounter);
    if (!output) return;
    // data-frame: the message a summary is sent in, "{summary}" where it goes
    // (templates.summary_frame), in the language of data-frame-label.
    const frame = area.dataset.frame || "";
    const frameLabel = area.dataset.frameLabel || "Whole message";
    const fullStop = area.dataset.fullStop || ".";
    const values = area.dataset.values ? JSON.parse(area.dataset.values) : {};
    // The counter changes with every key pressed, too often to be read out (the template
    // marks it aria-live="off"). A status of its own says what costs money, when it
    // changes: the number of segments and the encoding.
    const announcer = document.createElement("span");
    announcer.className = "visually-hidden";
    announcer.setAttribute("role", "status");
    announcer.dataset.counterAnnouncer = area.dataset.segmentCounter;
    output.after(announcer);
    let said = null;
    const update = function () {
      const label = area.dataset.counterLabel || "Summary";
      const own = countSegments(filled(area.value, values));
      output.dataset.encoding = own.encoding;
      output.dataset.segments = String(own.segments);
      let text = label + ": " + describe(own);
      let cost = label + ": " + plural(own.segments, "segment") + ", " + own.encoding;
      if (frame.includes("{summary}")) {
        // split/join, not replace: a "$&" in the summary is text, not a pattern.
        const whole = countSegments(frame.split("{summary}").join(asSentence(area.value, fullStop)));
        output.dataset.wholeSegments = String(whole.segments);
        const wholeCost = frameLabel + ": " + plural(whole.segments, "segment") + ", " + whole.encoding;
        text += "\n" + wholeCost;
        cost += ". " + wholeCost;
      }
      output.textContent = text;
      if (said !== null && cost !== said) announcer.textContent = cost;
      said = cost;  // on the page's load, nothing is said: nothing has changed
    };
    area.addEventListener("input", update);
    update();
  }

  // ------------------------------------------------------------------- bulk selection
  function setUpBulk(form) {
    const all = form.querySelector("[data-select-all]");
    const boxes = Array.from(form.querySelectorAll('input[name="item_ids"]'));
    const count = form.querySelector("[data-selected-count]");
    const refresh = function () {
      const picked = boxes.filter(function (box) { return box.checked; }).length;
      if (all) {
        all.checked = picked > 0 && picked === boxes.length;
        all.indeterminate = picked > 0 && picked < boxes.length;
      }
      if (count) count.textContent = picked ? "(" + picked + " selected)" : "(none selected)";
    };
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        refresh();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", refresh); });
    const action = form.querySelector("select[data-bulk-action]");
    if (action) {
      const show = function () {
        form.querySelectorAll("[data-for-action]").forEach(function (part) {
          part.hidden = part.dataset.forAction !== action.value;
        });
      };
      action.addEventListener("change", show);
      show();
    }
    form.addEventListener("submit", function (event) {
      if (!boxes.some(function (box) { return box.checked; })) {
        event.preventDefault();
        window.alert("Select at least one item first.");
      }
    });
    refresh();
  }

  // ------------------------------------------------------------------ confirmations
  function setUpConfirm(form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // ---------------------------------------------------------------- unsaved edits
  // A page of many small forms (the template editor: one per box) saves one box at a time,
  // and a save reloads the page. Text typed into another box would be lost without a word:
  // the browser asks first. The box being saved is saved, so it does not count.
  function setUpKeepEdits() {
    let submitting = null;
    document.addEventListener("submit", function (event) { submitting = event.target; });
    window.addEventListener("beforeunload", function (event) {
      const unsaved = Array.from(document.querySelectorAll("form textarea, form input[type=text]"))
        .some(function (field) {
          return field.form !== submitting && field.value !== field.defaultValue;
        });
      submitting = null;
      if (unsaved) {
        event.preventDefault();
        event.returnValue = ""; // older browsers ask only when this is set
      }
    });
  }

  // ------------------------------------------------------------------ live progress
  // Members (or their messages: data-noun) waiting, by language, for what only someone else
  // can give (data-waiting names the progress JSON's key): the list, and who can unblock
  // them while anyone waits.
  function showWaiting(part, waiting, languages) {
    const entries = Object.entries(waiting || {}).sort();
    const list = part.querySelector("[data-awaiting]");
    list.replaceChildren();
    if (!entries.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = list.dataset.none;
      list.appendChild(none);
    }
    entries.forEach(function ([locale, count]) {
      const li = document.createElement("li");
      li.dataset.locale = locale;
      // As the page first named it: the language's own name, marked as written in it.
      const language = (languages || {})[locale];
      if (language) {
        const name = document.createElement("span");
        name.lang = locale;
        name.dir = language.dir;
        name.textContent = language.name;
        li.append(name, " (" + locale + ")");
      } else {
        li.append(locale);
      }
      li.append(": " + plural(count, list.dataset.noun || "member") + " waiting");
      list.appendChild(li);
    });
    const unblock = part.querySelector("[data-unblock]");
    if (unblock) unblock.hidden = !entries.length;
    if ("hideWhenNone" in part.dataset) part.hidden = !entries.length;
  }

  function setUpProgress(section) {
    const url = section.dataset.progressUrl;
    const apply = function (data) {
      Object.entries(data.progress || {}).forEach(function ([key, value]) {
        const cell = section.querySelector('[data-count="' + key + '"]');
        if (cell) cell.textContent = String(value);
        const hint = section.querySelector('[data-hint-for="' + key + '"]');
        if (hint) hint.hidden = !value;
      });
      section.querySelectorAll("[data-waiting]").forEach(function (part) {
        showWaiting(part, data[part.dataset.waiting], data.languages);
      });
    };
    const pause = section.querySelector("[data-pause-progress]");
    if (pause) {
      pause.addEventListener("click", function () {
        const paused = pause.getAttribute("aria-pressed") !== "true";
        pause.setAttribute("aria-pressed", String(paused));
      });
    }
    // Counts that stopped updating (the server unreachable, the session ended: a sign-in
    // page is no JSON) say so, and since when, once; the next update that works clears it.
    const status = section.querySelector("[data-refresh-status]");
    let updatedAt = new Date();
    const poll = function () {
      if (document.hidden) return;
      if (pause && pause.getAttribute("aria-pressed") === "true") return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (data) {
          apply(data);
          updatedAt = new Date();
          section.dataset.refreshedAt = updatedAt.toISOString();
          delete section.dataset.refreshFailed;
          if (status) status.textContent = "";
        })
        .catch(function () {
          if (section.dataset.refreshFailed) return;
          section.dataset.refreshFailed = "true";
          if (status) {
            const at = updatedAt.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
            status.textContent = "These counts stopped updating at " + at + ": the server " +
              "could not be reached, or you are signed out. Reload the page to see them as they are now.";
          }
        });
    };
    window.setInterval(poll, Number(section.dataset.intervalMs || 3000));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-segment-counter]").forEach(setUpCounter);
    document.querySelectorAll("form[data-bulk]").forEach(setUpBulk);
    document.querySelectorAll("form[data-confirm]").forEach(setUpConfirm);
    document.querySelectorAll("[data-progress-url]").forEach(setUpProgress);
    if (document.querySelector("[data-keep-edits]")) setUpKeepEdits();
  });

  window.feedbackPanel = { countSegments: countSegments };
})();
