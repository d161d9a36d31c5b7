// The sandbox page: renders the fake Slack workspace the way Slack's client would, and acts
// only through the page's JSON API (api/...), which sends the app real signed requests.
//
// Block Kit support: header, section (text, fields, accessory button/static_select/image),
// context (mrkdwn, plain_text, image), divider, image, actions (buttons with styles and
// confirm dialogs, static_select). Anything else shows a visible "unsupported ..." box, so a
// renderer emitting something this page cannot show is noticed (the browser test checks).
"use strict";

(() => {
  const API = "api/";
  const LONG_POLL_SECONDS = 20;
  const HEARTBEAT_SECONDS = 3;

  const EMOJI = {
    large_green_circle: "🟢",
    large_yellow_circle: "🟡",
    large_orange_circle: "🟠",
    large_blue_circle: "🔵",
    red_circle: "🔴",
    black_circle: "⚫\uFE0F",
    white_circle: "⚪\uFE0F",
    grey_question: "❔",
    question: "❓",
    warning: "⚠️",
    no_entry: "⛔",
    no_entry_sign: "🚫",
    ghost: "👻",
    repeat: "🔁",
    x: "❌",
    white_check_mark: "✅",
    heavy_check_mark: "✔️",
    rotating_light: "🚨",
    bell: "🔔",
    no_bell: "🔕",
    mute: "🔇",
    hourglass: "⌛",
    hourglass_flowing_sand: "⏳",
    information_source: "ℹ️",
    zap: "⚡",
    fire: "🔥",
    sleeping: "😴",
    robot_face: "🤖",
    arrows_counterclockwise: "🔄",
    chart_with_upwards_trend: "📈",
    memo: "📝",
    stopwatch: "⏱️",
    clock3: "🕒",
    point_right: "👉",
    eyes: "👀",
    wave: "👋",
    tada: "🎉",
    pause_button: "⏸️",
    arrow_forward: "▶️",
    black_square_for_stop: "⏹️",
    electric_plug: "🔌",
    satellite_antenna: "📡",
  };

  const $ = (id) => document.getElementById(id);

  const ui = {
    data: null,
    version: "",
    persona: localStorage.getItem("sandbox.persona") || "alice",
    view: localStorage.getItem("sandbox.view") || "",
    expanded: new Set(),
    busy: new Set(),
    seen: {},
    history: [],
    historyIndex: -1,
    homeRequested: "",
  };

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function unsupported(what) {
    return h("div", { className: "unsupported" }, `unsupported ${what}`);
  }

  // ---------------------------------------------------------------- mrkdwn

  // Slack escapes &, < and > in text; what is left between < and > is a special token.
  function decodeEntities(text) {
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function withEmoji(text) {
    return text.replace(/:([a-z0-9_+\-]+):/g, (match, name) => EMOJI[name] || match);
  }

  function personaById(id) {
    return (ui.data?.personas || []).find((p) => p.id === id);
  }

  function channelById(id) {
    return (ui.data?.channels || []).find((c) => c.id === id);
  }

  function renderToken(token) {
    const [target, label] = splitOnce(token, "|");
    if (target.startsWith("@")) {
      const id = target.slice(1);
      let name = label;
      if (!name) {
        const persona = personaById(id);
        name = persona ? persona.name : id === ui.data?.app.user_id ? ui.data.app.name : id;
      }
      return h("span", { className: "mention", dataset: { user: id } }, "@" + name);
    }
    if (target.startsWith("#")) {
      const channel = channelById(target.slice(1));
      return h("span", { className: "mention" }, "#" + (label || channel?.name || target.slice(1)));
    }
    if (target.startsWith("!date^")) {
      return h("span", { className: "date" }, decodeEntities(label || target));
    }
    if (target.startsWith("!subteam^")) {
      return h("span", { className: "mention" }, label || "@group");
    }
    if (target.startsWith("!")) {
      return h("span", { className: "mention" }, "@" + target.slice(1));
    }
    const url = decodeEntities(target);
    const text = decodeEntities(label || target);
    if (/^(https?:|mailto:)/i.test(url)) {
      return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text);
    }
    return document.createTextNode(text);
  }

  function splitOnce(text, separator) {
    const at = text.indexOf(separator);
    return at < 0 ? [text, ""] : [text.slice(0, at), text.slice(at + 1)];
  }

  const FORMATS = [
    { tag: "strong", re: /(^|[^\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])/ },
    { tag: "em", re: /(^|[^\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])/ },
    { tag: "s", re: /(^|[^\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])/ },
  ];

  // Text with tokens replaced by \u0001N\u0002 placeholders; emphasis may wrap tokens.
  function formatRuns(text, tokens) {
    let best = null;
    for (const format of FORMATS) {
      const match = format.re.exec(text);
      if (match && (best === null || match.index < best.match.index)) best = { format, match };
    }
    if (best === null) return leaf(text, tokens);
    const { format, match } = best;
    const start = match.index + match[1].length;
    const end = match.index + match[0].length;
    return [
      leaf(text.slice(0, start), tokens),
      h(format.tag, {}, formatRuns(match[2], tokens)),
      formatRuns(text.slice(end), tokens),
    ];
  }

  function leaf(text, tokens) {
    const nodes = [];
    const parts = text.split(/\u0001(\d+)\u0002/);
    parts.forEach((part, index) => {
      if (index % 2 === 1) {
        nodes.push(renderToken(tokens[Number(part)]));
        return;
      }
      const lines = withEmoji(decodeEntities(part)).split("\n");
      lines.forEach((line, lineIndex) => {
        if (lineIndex > 0) nodes.push(h("br"));
        if (line) nodes.push(document.createTextNode(line));
      });
    });
    return nodes;
  }

  function inline(text) {
    // Inline code first: nothing inside `...` is formatted.
    const nodes = [];
    const pieces = text.split(/`([^`\n]+)`/);
    pieces.forEach((piece, index) => {
      if (index % 2 === 1) {
        nodes.push(h("code", {}, decodeEntities(piece)));
        return;
      }
      const tokens = [];
      const marked = piece.replace(/<([^<>]+)>/g, (match, inner) => {
        tokens.push(inner);
        return `\u0001${tokens.length - 1}\u0002`;
      });
      nodes.push(formatRuns(marked, tokens));
    });
    return nodes;
  }

  function mrkdwn(text) {
    const container = h("span", { className: "mrkdwn" });
    const pieces = String(text || "").split(/```([\s\S]*?)```/);
    pieces.forEach((piece, index) => {
      if (index % 2 === 1) append(container, [h("pre", {}, decodeEntities(piece.replace(/^\n/, "")))]);
      else append(container, [inline(piece)]);
    });
    return container;
  }

  function textObject(object) {
    if (!object || typeof object !== "object") return unsupported("text: (missing)");
    if (object.type === "mrkdwn") return mrkdwn(object.text);
    if (object.type === "plain_text") {
      const text = object.emoji === false ? object.text : withEmoji(object.text || "");
      return h("span", { className: "plain" }, text);
    }
    return unsupported(`text: ${object.type}`);
  }

  function plainText(object) {
    return object && object.type === "plain_text" ? withEmoji(object.text || "") : "";
  }

  // ---------------------------------------------------------------- Block Kit

  function renderBlocks(blocks, ref) {
    const container = h("div", { className: "blocks" });
    for (const block of blocks || []) container.append(renderBlock(block, ref));
    return container;
  }

  function renderBlock(block, ref) {
    const type = block && block.type;
    const node = (() => {
      switch (type) {
        case "header":
          return h("div", { className: "bk-header" }, plainText(block.text));
        case "section":
          return renderSection(block, ref);
        case "context":
          return h(
            "div",
            { className: "bk-context" },
            (block.elements || []).map((element) =>
              element.type === "image"
                ? h("img", { className: "bk-context-image", src: element.image_url, alt: element.alt_text })
                : h("span", { className: "bk-context-text" }, textObject(element)),
            ),
          );
        case "divider":
          return h("hr", { className: "bk-divider" });
        case "image":
          return h(
            "figure",
            { className: "bk-image" },
            block.title ? h("figcaption", {}, plainText(block.title)) : null,
            h("img", { src: block.image_url, alt: block.alt_text }),
          );
        case "actions":
          return h(
            "div",
            { className: "bk-actions" },
            (block.elements || []).map((element) => renderElement(element, block, ref)),
          );
        default:
          return unsupported(`block: ${type}`);
      }
    })();
    node.classList.add("bk-block");
    node.dataset.blockType = type || "";
    return node;
  }

  function renderSection(block, ref) {
    const main = h("div", { className: "bk-section-main" });
    if (block.text) main.append(h("div", { className: "bk-text" }, textObject(block.text)));
    if (block.fields) {
      main.append(
        h(
          "div",
          { className: "bk-fields" },
          block.fields.map((field) => h("div", { className: "bk-field" }, textObject(field))),
        ),
      );
    }
    return h(
      "div",
      { className: "bk-section" },
      main,
      block.accessory ? h("div", { className: "bk-accessory" }, renderElement(block.accessory, block, ref)) : null,
    );
  }

  function renderElement(element, block, ref) {
    if (!element || typeof element !== "object") return unsupported("element: (missing)");
    if (element.type === "button") return renderButton(element, ref);
    if (element.type === "static_select") return renderSelect(element, ref);
    if (element.type === "image") {
      return h("img", { className: "bk-accessory-image", src: element.image_url, alt: element.alt_text });
    }
    return unsupported(`element: ${element.type}`);
  }

  function busyKey(ref, actionId) {
    return `${ref.surface}:${ref.channel || ""}:${ref.ts || ""}:${actionId}`;
  }

  function renderButton(element, ref) {
    // Several buttons may share an action_id (one Stop per connector): the value tells them apart.
    const key = busyKey(ref, `${element.action_id}:${element.value || ""}`);
    const button = h(
      "button",
      {
        type: "button",
        className: `bk-button ${element.style || ""}`.trim(),
        dataset: { actionId: element.action_id || "" },
        disabled: ui.busy.has(key),
      },
      plainText(element.text),
    );
    if (element.url) {
      button.addEventListener("click", () => window.open(element.url, "_blank", "noopener"));
      return button;
    }
    button.addEventListener("click", () => {
      if (ui.busy.has(key)) return; // a double click sends one request, as Slack's client does
      const send = () =>
        act("click", { ...ref, action_id: element.action_id, value: element.value }, key, button);
      if (element.confirm) openConfirm(element.confirm, send);
      else send();
    });
    return button;
  }

  function renderSelect(element, ref) {
    const key = busyKey(ref, element.action_id);
    const select = h("select", {
      className: "bk-select",
      dataset: { actionId: element.action_id || "" },
      "aria-label": plainText(element.placeholder) || element.action_id,
      disabled: ui.busy.has(key),
    });
    if (!element.initial_option) {
      select.append(h("option", { value: "", disabled: true, selected: true }, plainText(element.placeholder)));
    }
    for (const option of element.options || []) {
      const selected = element.initial_option && element.initial_option.value === option.value;
      select.append(h("option", { value: option.value, selected }, plainText(option.text)));
    }
    select.addEventListener("change", () =>
      act("select", { ...ref, action_id: element.action_id, value: select.value }, key, select),
    );
    return select;
  }

  // ---------------------------------------------------------------- confirm dialog

  function openConfirm(confirm, onConfirm) {
    const backdrop = $("confirm");
    $("confirm-title").textContent = plainText(confirm.title) || "Are you sure?";
    const text = $("confirm-text");
    text.replaceChildren(textObject(confirm.text));
    const ok = $("confirm-ok");
    ok.textContent = plainText(confirm.confirm) || "Yes";
    ok.className = `bk-button ${confirm.style === "danger" ? "danger" : "primary"}`;
    $("confirm-deny").textContent = plainText(confirm.deny) || "Cancel";
    const close = () => {
      backdrop.hidden = true;
      ok.onclick = null;
      $("confirm-deny").onclick = null;
      document.removeEventListener("keydown", onKey);
    };
    const onKey = (event) => {
      if (event.key === "Escape") close();
    };
    ok.onclick = () => {
      close();
      onConfirm();
    };
    $("confirm-deny").onclick = close;
    document.addEventListener("keydown", onKey);
    backdrop.hidden = false;
    ok.focus();
  }

  // ---------------------------------------------------------------- API

  async function post(path, body) {
    const response = await fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      answer = { ok: false, error: `HTTP ${response.status}` };
    }
    if (!response.ok || !answer.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  async function act(kind, ref, key, control) {
    ui.busy.add(key);
    if (control) control.disabled = true;
    try {
      await post(kind, { persona: ui.persona, ...ref });
    } catch (error) {
      showNotice(error.message);
    } finally {
      ui.busy.delete(key);
      render();
    }
  }

  async function sendCommand(text) {
    const send = $("composer-send");
    const input = $("composer-input");
    if (!text.trim() || send.disabled) return;
    send.disabled = true;
    try {
      await post("command", { persona: ui.persona, channel: currentChannelId(), text: text.trim() });
      ui.history.unshift(text.trim());
      ui.historyIndex = -1;
      input.value = "";
      hideNotice();
    } catch (error) {
      showNotice(error.message);
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  function openHome(force) {
    const wanted = ui.persona;
    if (!force && ui.homeRequested === wanted) return;
    ui.homeRequested = wanted;
    post("home", { persona: wanted }).catch((error) => showNotice(error.message));
  }

  async function triggerScenario(name, button) {
    button.disabled = true;
    try {
      await post(`scenario/${encodeURIComponent(name)}`, {});
    } catch (error) {
      showNotice(error.message);
      button.disabled = false;
    }
  }

  async function pollForever() {
    for (;;) {
      try {
        const query = new URLSearchParams({ since: ui.version, wait: String(ui.version ? LONG_POLL_SECONDS : 0) });
        const response = await fetch(`${API}state?${query}`, { cache: "no-store" });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const data = await response.json();
        setConnection("live");
        if (data.version !== ui.version) {
          // Slack sends app_home_opened whenever the tab is shown, a reload included.
          if (!ui.data && ui.view === "home") openHome(true);
          ui.data = data;
          ui.version = data.version;
          render();
        }
      } catch (error) {
        setConnection("lost");
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
  }

  const counted = (count, noun) => `${count} ${noun}${count === 1 ? "" : "s"}`;

  // The heartbeat receiver's pings, re-read on a timer of their own: they change every few
  // seconds, and re-rendering the whole window for them would disturb whoever reads it.
  async function refreshHeartbeat() {
    let summary;
    try {
      const response = await fetch(`${API}heartbeat`, { cache: "no-store" });
      if (response.status === 404) return; // no receiver in this sandbox: nothing to show
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      summary = await response.json();
    } catch (error) {
      setTimeout(refreshHeartbeat, HEARTBEAT_SECONDS * 1000);
      return;
    }
    const last = summary.last;
    $("heartbeat-text").replaceChildren(
      last
        ? h(
            "div",
            { dataset: { ping: last.ping } },
            last.ping === "success" ? "✅ " : "❌ ",
            last.ping === "success" ? "chatops is polling" : "chatops reports a failure",
            " ",
            h("span", { className: "time" }, `at ${new Date(last.at * 1000).toLocaleTimeString()}`),
          )
        : h("div", {}, "no ping yet"),
      h(
        "div",
        { className: "time" },
        `${counted(summary.success, "ping")}, ${counted(summary.fail, "failure ping")}`,
      ),
    );
    $("heartbeat").hidden = false;
    setTimeout(refreshHeartbeat, HEARTBEAT_SECONDS * 1000);
  }

  // ---------------------------------------------------------------- rendering the window

  function currentChannelId() {
    const channels = ui.data?.channels || [];
    if (ui.view !== "home" && channels.some((c) => c.id === ui.view)) return ui.view;
    return channels.find((c) => c.name === "general")?.id || channels[0]?.id || "";
  }

  function setView(view) {
    ui.view = view;
    localStorage.setItem("sandbox.view", view);
    if (view === "home") openHome(true);
    render(true);
  }

  function setConnection(status) {
    const node = $("connection");
    if (node.dataset.state === status) return;
    node.dataset.state = status;
    node.textContent = status === "live" ? "live" : "reconnecting…";
  }

  function showNotice(message) {
    $("notice-text").textContent = message;
    $("notice").hidden = false;
  }

  function hideNotice() {
    $("notice").hidden = true;
  }

  function messageTime(ts) {
    const date = new Date(parseFloat(ts) * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function renderMessage(message, ref, options) {
    const replies = message.replies || [];
    const threadKey = `${ref.channel}:${message.ts}`;
    const expanded = ui.expanded.has(threadKey);
    const body = h(
      "div",
      { className: "message-body" },
      h(
        "div",
        { className: "message-meta" },
        h("span", { className: "author" }, ui.data.app.name),
        h("span", { className: "app-badge" }, "APP"),
        h("span", { className: "time", title: message.ts }, messageTime(message.ts)),
        options.ephemeral ? h("span", { className: "only-you" }, "Only visible to you") : null,
      ),
      message.blocks && message.blocks.length
        ? renderBlocks(message.blocks, ref)
        : h("div", { className: "message-text" }, mrkdwn(message.text)),
      message.edited ? h("span", { className: "edited", title: `${message.edits} edit(s)` }, "(edited)") : null,
    );
    if (replies.length) {
      body.append(
        h(
          "button",
          {
            type: "button",
            className: "thread-toggle",
            "aria-expanded": expanded ? "true" : "false",
            onclick: () => {
              if (ui.expanded.has(threadKey)) ui.expanded.delete(threadKey);
              else ui.expanded.add(threadKey);
              render();
            },
          },
          `${replies.length} ${replies.length === 1 ? "reply" : "replies"}`,
        ),
      );
      if (expanded) {
        body.append(
          h(
            "div",
            { className: "thread" },
            replies.map((reply) =>
              renderMessage(reply, { surface: "channel", channel: ref.channel, ts: reply.ts }, { reply: true }),
            ),
          ),
        );
      }
    }
    return h(
      "div",
      {
        className: `message${options.ephemeral ? " ephemeral" : ""}${options.reply ? " reply" : ""}`,
        dataset: { ts: message.ts, surface: ref.surface },
      },
      h("div", { className: "avatar", "aria-hidden": "true" }, "🤖"),
      body,
    );
  }

  function renderChannel(channel) {
    const mine = (ui.data.ephemerals[ui.persona] || []).filter((m) => m.channel === channel.id);
    const items = [
      ...channel.messages.map((m) => ({ message: m, ref: { surface: "channel", channel: channel.id, ts: m.ts }, options: {} })),
      ...mine.map((m) => ({ message: m, ref: { surface: "ephemeral", channel: channel.id, ts: m.ts }, options: { ephemeral: true } })),
    ].sort((a, b) => parseFloat(a.message.ts) - parseFloat(b.message.ts));
    if (!items.length) {
      return [h("div", { className: "empty" }, `This is the very beginning of #${channel.name}.`)];
    }
    return items.map((item) => renderMessage(item.message, item.ref, item.options));
  }

  function renderHome() {
    const view = ui.data.homes[ui.persona];
    if (!view) return [h("div", { className: "empty" }, "Opening the Home tab…")];
    return [h("div", { className: "home" }, renderBlocks(view.blocks, { surface: "home" }))];
  }

  function renderSidebar() {
    const data = ui.data;
    $("workspace-name").textContent = data.workspace.team;
    $("app-name").textContent = data.app.name;

    const picker = $("persona");
    const options = data.personas.map((p) => `${p.name}:${p.role}`).join(",");
    if (picker.dataset.options !== options) {
      picker.replaceChildren(
        ...data.personas.map((p) =>
          h("option", { value: p.name }, p.role ? `${p.name} (${p.role})` : p.name),
        ),
      );
      picker.dataset.options = options;
    }
    if (!data.personas.some((p) => p.name === ui.persona)) ui.persona = data.personas[0].name;
    picker.value = ui.persona;

    const current = ui.view === "home" ? "home" : currentChannelId();
    $("channel-list").replaceChildren(
      ...data.channels.map((channel) => {
        const count = channel.messages.length;
        if (current === channel.id) ui.seen[channel.id] = count;
        const unread = count - (ui.seen[channel.id] ?? count);
        return h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              className: `nav-item${current === channel.id ? " active" : ""}${unread > 0 ? " unread" : ""}`,
              dataset: { view: channel.id },
              onclick: () => setView(channel.id),
            },
            h("span", { className: "nav-icon", "aria-hidden": "true" }, "#"),
            channel.name,
            unread > 0 ? h("span", { className: "badge" }, String(unread)) : null,
          ),
        );
      }),
    );
    for (const channel of data.channels) {
      if (ui.seen[channel.id] === undefined) ui.seen[channel.id] = channel.messages.length;
    }
    $("nav-home").classList.toggle("active", current === "home");

    const scenario = data.scenario;
    $("scenario").hidden = !scenario;
    if (scenario) {
      $("scenario-buttons").replaceChildren(
        ...scenario.events.map((event) => {
          const button = h(
            "button",
            {
              type: "button",
              className: "scenario-button",
              title: event.description,
              dataset: { event: event.name },
              disabled: event.running,
            },
            event.running ? `${event.label} …` : event.label,
          );
          button.addEventListener("click", () => triggerScenario(event.name, button));
          return button;
        }),
      );
      $("scenario-log").replaceChildren(
        ...scenario.log
          .slice(-8)
          .reverse()
          .map((entry) =>
            h(
              "li",
              {},
              h("span", { className: "time" }, new Date(entry.at * 1000).toLocaleTimeString()),
              " ",
              entry.text,
            ),
          ),
      );
    }
  }

  function render(jump) {
    if (!ui.data) return;
    renderSidebar();
    const pane = $("messages");
    const nearBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
    const scrollTop = pane.scrollTop;
    const home = ui.view === "home";
    if (home) {
      $("view-title").textContent = `${ui.data.app.name} · Home`;
      $("view-topic").textContent = `App Home as ${ui.persona}`;
      pane.replaceChildren(...renderHome());
      if (!ui.data.homes[ui.persona]) openHome(false);
    } else {
      const channel = ui.data.channels.find((c) => c.id === currentChannelId());
      $("view-title").textContent = `#${channel.name}`;
      $("view-topic").textContent = channel.id;
      pane.replaceChildren(...renderChannel(channel));
      $("composer-input").placeholder = `/botstatus help — as ${ui.persona} in #${channel.name}`;
    }
    $("composer").hidden = home;
    pane.dataset.view = home ? "home" : currentChannelId();
    if (home && !jump) pane.scrollTop = scrollTop;
    else if (jump || nearBottom) pane.scrollTop = pane.scrollHeight;
    else pane.scrollTop = scrollTop;
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    $("persona").addEventListener("change", (event) => {
      ui.persona = event.target.value;
      localStorage.setItem("sandbox.persona", ui.persona);
      if (ui.view === "home") openHome(true);
      render(true);
    });
    $("nav-home").addEventListener("click", () => setView("home"));
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      sendCommand($("composer-input").value);
    });
    $("composer-input").addEventListener("keydown", (event) => {
      if (event.key === "ArrowUp" && ui.history.length) {
        ui.historyIndex = Math.min(ui.historyIndex + 1, ui.history.length - 1);
        event.target.value = ui.history[ui.historyIndex];
        event.preventDefault();
      } else if (event.key === "ArrowDown" && ui.historyIndex >= 0) {
        ui.historyIndex -= 1;
        event.target.value = ui.historyIndex >= 0 ? ui.history[ui.historyIndex] : "";
        event.preventDefault();
      }
    });
    for (const hint of document.querySelectorAll(".hint")) {
      hint.addEventListener("click", () => sendCommand(hint.dataset.command));
    }
    $("notice-close").addEventListener("click", hideNotice);
    $("confirm").addEventListener("click", (event) => {
      if (event.target === $("confirm")) $("confirm-deny").click();
    });
  }

  wire();
  pollForever();
  refreshHeartbeat();
})();
