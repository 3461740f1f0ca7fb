// The phone simulator: send as a member, poll the conversation once a second.
// Plain JavaScript and fetch; no framework, no build step. Every piece of text from the
// server goes into the page through textContent, never as HTML.
(function () {
  "use strict";

  const POLL_MS = 1000;
  // A reply still waiting after this long usually means no worker is running.
  const WORKER_HINT_MS = 10000;
  const NUMBER_SHAPE = /^\+[1-9][0-9]{6,14}$/;
  const STATUS_LABELS = {
    queued: "queued",
    sent: "sent",
    delivered: "delivered",
    read: "read",
    undelivered: "undelivered",
    failed: "failed",
    cancelled: "not sent",
  };
  const NOT_SENT = new Set(["failed", "undelivered", "cancelled"]);

  const root = document.getElementById("simulator");
  const sendUrl = root.dataset.sendUrl;
  const conversationUrl = root.dataset.conversationUrl;
  const uploadLimit = Number(root.dataset.uploadLimit);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

  const identity = document.getElementById("identity");
  const numberInput = document.getElementById("number");
  const numberError = document.getElementById("number-error");
  const addressOut = document.getElementById("address");
  const memberOut = document.getElementById("member");
  const subtitle = document.getElementById("subtitle");
  const pane = document.getElementById("conversation");
  const empty = document.getElementById("empty");
  const statusLine = document.getElementById("status-line");
  const composer = document.getElementById("composer");
  const bodyInput = document.getElementById("body");
  const fileInput = document.getElementById("media");
  const attachment = document.getElementById("attachment");
  const attachmentName = document.getElementById("attachment-name");
  const attachmentRemove = document.getElementById("attachment-remove");
  const sendError = document.getElementById("send-error");
  const sendButton = document.getElementById("send");

  // What the pane shows: one element per message, keyed "in-12" / "out-7".
  let shownFor = "";
  let shown = new Map();
  let order = [];
  let pollTimer = null;
  let pollSerial = 0;
  let pendingSince = null;
  let selectedKey = "";

  // ------------------------------------------------------------------ who you are

  function channel() {
    return identity.querySelector('input[name="channel"]:checked').value;
  }

  function number() {
    return numberInput.value.replace(/[\s().-]/g, "");
  }

  function conversationKey() {
    return channel() + " " + number();
  }

  function showNumberError(message) {
    numberError.textContent = message || "";
    numberError.hidden = !message;
    numberInput.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function applyChannel() {
    const current = channel();
    root.dataset.channel = current;
    const address = root.dataset["address" + (current === "whatsapp" ? "Whatsapp" : "Sms")];
    addressOut.textContent = address || "(no number configured)";
    subtitle.textContent = (current === "whatsapp" ? "WhatsApp" : "SMS") +
      (address ? " · " + address.replace(/^whatsapp:/, "") : "");
  }

  function remember() {
    try {
      localStorage.setItem("simulator", JSON.stringify({ channel: channel(), number: numberInput.value }));
    } catch (error) {
      // Private browsing: forgetting is fine.
    }
  }

  function restore() {
    try {
      const saved = JSON.parse(localStorage.getItem("simulator") || "{}");
      if (saved.number) numberInput.value = saved.number;
      const radio = identity.querySelector('input[name="channel"][value="' + saved.channel + '"]');
      if (radio) radio.checked = true;
    } catch (error) {
      // Nothing saved, or something unreadable: keep the defaults.
    }
  }

  function identityChanged() {
    applyChannel();
    remember();
    const key = conversationKey();
    if (key === selectedKey) return;
    selectedKey = key;
    resetPane();
    const value = number();
    if (value && !NUMBER_SHAPE.test(value)) {
      showNumberError("Use international format: + then the country code, e.g. +447911123456.");
    } else {
      showNumberError("");
    }
    poll();
  }

  // ------------------------------------------------------------------ the conversation

  function resetPane() {
    for (const element of shown.values()) element.remove();
    shown = new Map();
    order = [];
    shownFor = "";
    empty.hidden = false;
    memberOut.textContent = "—";
    pendingSince = null;
    setStatus("");
  }

  function setStatus(text, warning) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
    statusLine.classList.toggle("warning", Boolean(warning));
    statusLine.classList.toggle("typing", Boolean(text) && !warning);
  }

  function timeLabel(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return "";
    const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    // As a phone does: the day too, for anything not from today (the demo's weeks).
    if (when.toDateString() === new Date().toDateString()) return time;
    return when.toLocaleDateString([], { day: "numeric", month: "short" }) + " " + time;
  }

  function metaText(message) {
    const parts = [];
    if (message.direction === "out") {
      parts.push(STATUS_LABELS[message.status] || message.status);
      if (NOT_SENT.has(message.status) && message.error) parts.push(message.error);
    } else {
      if (message.disposition && message.disposition !== "feedback") {
        parts.push(message.disposition.replace("_", " "));
      }
      if (message.ref) parts.push("ref " + message.ref);
    }
    parts.push(timeLabel(message.time));
    return parts.filter(Boolean).join(" · ");
  }

  function mediaElement(item) {
    const type = item.content_type || "";
    let element;
    if (type.startsWith("image/")) {
      element = document.createElement("img");
      element.alt = "Photo";
      element.loading = "lazy";
    } else if (type.startsWith("audio/")) {
      element = document.createElement("audio");
      element.controls = true;
      element.preload = "metadata";
    } else {
      element = document.createElement("a");
      element.textContent = "Attachment (" + type + ")";
      element.target = "_blank";
      element.rel = "noopener";
      element.href = item.url;
      return element;
    }
    element.src = item.url;
    return element;
  }

  function fillBubble(bubble, message) {
    bubble.replaceChildren();
    for (const item of message.media || []) bubble.appendChild(mediaElement(item));
    if (message.body) {
      const text = document.createElement("div");
      text.className = "text";
      text.dir = "auto";
      text.textContent = message.body;
      bubble.appendChild(text);
    } else if (message.erased || message.body === null) {
      const text = document.createElement("div");
      text.className = "text erased";
      text.textContent = "(erased)";
      bubble.appendChild(text);
    }
  }

  function buildMessage(message) {
    const wrapper = document.createElement("div");
    // The member is "me" on this phone; the organisation's replies are "them".
    wrapper.className = "message " + (message.direction === "in" ? "me" : "them");
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.dir = "auto";
    const meta = document.createElement("div");
    meta.className = "meta";
    wrapper.append(bubble, meta);
    updateMessage(wrapper, message);
    return wrapper;
  }

  function updateMessage(wrapper, message) {
    // Rebuild the bubble only when its content changed, so a playing voice note keeps playing.
    const content = JSON.stringify([message.body, message.erased, message.media]);
    if (wrapper.dataset.content !== content) {
      fillBubble(wrapper.querySelector(".bubble"), message);
      wrapper.dataset.content = content;
    }
    wrapper.querySelector(".meta").textContent = metaText(message);
    wrapper.classList.toggle("not-sent", message.direction === "out" && NOT_SENT.has(message.status));
    if (message.kind) wrapper.dataset.kind = message.kind;
  }

  function render(data) {
    const key = data.channel + " " + data.number;
    if (key !== shownFor) {
      resetPane();
      shownFor = key;
    }
    const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
    const newOrder = [];
    let added = false;
    for (const message of data.messages) {
      const id = message.direction + "-" + message.id;
      newOrder.push(id);
      const existing = shown.get(id);
      if (existing) {
        updateMessage(existing, message);
      } else {
        shown.set(id, buildMessage(message));
        added = true;
      }
    }
    for (const [id, element] of shown) {
      if (!newOrder.includes(id)) {
        element.remove();
        shown.delete(id);
      }
    }
    if (added || newOrder.join() !== order.join()) {
      for (const id of newOrder) pane.appendChild(shown.get(id));
      order = newOrder;
    }
    empty.hidden = newOrder.length > 0;
    if (added && (atBottom || newOrder.length <= 2)) pane.scrollTop = pane.scrollHeight;

    if (data.contact) {
      memberOut.textContent = data.contact.label + " · replies in " + data.contact.locale +
        (data.contact.opted_out ? " · opted out (STOP)" : "");
    } else if (data.forgotten) {
      memberOut.textContent = "forgotten (FORGET): the next message starts afresh";
    } else {
      memberOut.textContent = "new (no messages yet)";
    }

    const later = data.scheduled || [];
    if (data.pending > 0 && later.length >= data.pending) {
      // Every reply still owed waits for a time (quiet hours where the member lives, the
      // send rate, a retry): the worker is running, so say when rather than ask.
      pendingSince = null;
      const first = later[0];
      setStatus(
        (data.pending === 1 ? "A reply waits" : data.pending + " replies wait") +
          " until " + timeLabel(first.at) + (first.reason ? " (" + first.reason + ")" : "") + "."
      );
    } else if (data.pending > 0) {
      pendingSince = pendingSince || Date.now();
      if (Date.now() - pendingSince > WORKER_HINT_MS) {
        setStatus("A reply is still waiting for the worker. Is it running? (python worker.py)", true);
      } else {
        setStatus(data.pending === 1 ? "The worker is sending a reply" : "The worker is sending " + data.pending + " replies");
      }
    } else {
      pendingSince = null;
      setStatus("");
    }
  }

  // The JSON an endpoint answered, or an {error} that says what went wrong instead.
  async function readJson(response) {
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    if (data && (response.ok || data.error)) return data;
    return {
      error: "The server answered " + response.status + " " + response.statusText +
        "; the terminal running the app says why.",
    };
  }

  function schedule() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, POLL_MS);
  }

  async function poll() {
    clearTimeout(pollTimer);
    const serial = ++pollSerial;
    const value = number();
    if (!NUMBER_SHAPE.test(value)) {
      schedule();
      return;
    }
    const query = new URLSearchParams({ number: value, channel: channel() });
    try {
      const response = await fetch(conversationUrl + "?" + query, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      const data = await readJson(response);
      if (serial !== pollSerial) return; // a newer poll has started; it owns the timer
      if (!response.ok) {
        if (data.field === "number") showNumberError(data.error);
        else setStatus(data.error, true);
      } else {
        showNumberError("");
        render(data);
      }
    } catch (error) {
      if (serial !== pollSerial) return;
      setStatus("Cannot reach the server. Is it still running?", true);
    }
    schedule();
  }

  // ------------------------------------------------------------------ sending

  function showSendError(message) {
    sendError.textContent = message || "";
    sendError.hidden = !message;
  }

  function formatSize(bytes) {
    return bytes >= 1024 * 1024
      ? (bytes / (1024 * 1024)).toFixed(1) + " MB"
      : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function chosenFile() {
    return fileInput.files && fileInput.files.length ? fileInput.files[0] : null;
  }

  function fileChanged() {
    const file = chosenFile();
    attachment.hidden = !file;
    attachmentName.textContent = file ? file.name + " (" + formatSize(file.size) + ")" : "";
    if (file && file.size > uploadLimit) {
      showSendError("The file is larger than " + formatSize(uploadLimit) + ".");
    } else {
      showSendError("");
    }
  }

  function clearFile() {
    fileInput.value = "";
    fileChanged();
  }

  function autoGrow() {
    bodyInput.style.height = "auto";
    bodyInput.style.height = Math.min(bodyInput.scrollHeight + 2, 128) + "px";
  }

  async function send(event) {
    event.preventDefault();
    const body = bodyInput.value;
    const file = chosenFile();
    if (!body.trim() && !file) {
      showSendError("Type a message or attach a photo or voice note.");
      return;
    }
    if (file && file.size > uploadLimit) {
      showSendError("The file is larger than " + formatSize(uploadLimit) + ".");
      return;
    }
    const form = new FormData();
    form.append("channel", channel());
    form.append("number", number());
    form.append("body", body);
    if (file) form.append("media", file, file.name);

    sendButton.disabled = true;
    showSendError("");
    try {
      const response = await fetch(sendUrl, {
        method: "POST",
        body: form,
        headers: { "X-CSRFToken": csrfToken, Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await readJson(response);
      if (!response.ok) {
        if (data.field === "number") {
          showNumberError(data.error);
          showSendError("Check your phone number first.");
        } else {
          showSendError(data.error);
        }
        return;
      }
      bodyInput.value = "";
      autoGrow();
      clearFile();
      poll();
    } catch (error) {
      showSendError("Cannot reach the server. Is it still running?");
    } finally {
      sendButton.disabled = false;
      bodyInput.focus();
    }
  }

  // ------------------------------------------------------------------ wiring

  restore();
  applyChannel();
  selectedKey = conversationKey();
  identity.addEventListener("change", identityChanged);
  identity.addEventListener("submit", function (event) {
    event.preventDefault();
    identityChanged();
  });
  let typingTimer = null;
  numberInput.addEventListener("input", function () {
    clearTimeout(typingTimer);
    typingTimer = setTimeout(identityChanged, 400);
  });
  composer.addEventListener("submit", send);
  bodyInput.addEventListener("input", autoGrow);
  bodyInput.addEventListener("keydown", function (event) {
    // Enter sends, Shift+Enter starts a new line; never interrupt an input method.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  fileInput.addEventListener("change", fileChanged);
  attachmentRemove.addEventListener("click", clearFile);
  poll();
})();
