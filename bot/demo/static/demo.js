// The page of `reportbot demo`. It draws what the Telegram emulator holds (pushed over a
// websocket) and sends what a person does (text, taps, files) to the demo server, which acts
// through the emulator's user handles. Message text is only ever put in the DOM as text nodes
// (textContent / append(string)): a reporter's "<b>" stays literally "<b>".
"use strict";

(() => {
  const LABELS = {
    en: {
      title: "reportbot demo",
      badge: "DEMO · fake data",
      language: "Language",
      languageHint:
        "Switches the reporter's phone to this language and keeps the chat; once the reporter has written, the bot is asked with /language, as a person would.",
      botName: "Report bot (demo)",
      groupTitle: "Moderators (demo)",
      name_bot: "Report bot (demo)",
      name_moderator: "Demo moderator",
      name_coordinator: "Demo coordinator",
      name_reporter: "Demo reporter",
      night: "Busy night: {sent} of {total} simulated reports sent. Cards arrive here, and digests when they come faster than a group may receive messages.",
      nightFailed: "{n} simulated reports did not get through; see the terminal.",
      reason_empty: "There is nothing to send.",
      reason_gone: "That message is no longer there.",
      reason_language: "The bot did not change the language; try /language in the chat.",
      reason_tooBig: "The file is larger than 20 MB, the most a bot may receive.",
      newReporter: "New reporter",
      intro:
        "The real bot talks to a Telegram emulator on this computer; nothing is sent to Telegram. Report an incident in the reporter's chat, watch its alert card arrive in the moderators' chat, and ask for figures as a coordinator.",
      reporter: "Reporter",
      moderator: "Moderator",
      coordinator: "Coordinator",
      reporterSub: "{name} · private chat with the bot",
      moderatorsSub: "{name} · private group",
      coordinatorSub: "{name} · private chat with the bot",
      statsMissing:
        "This version of the bot has no /stats command yet; the figures will appear here once it has one.",
      seeded: "The database holds {n} fake sample reports (--seed).",
      showStats: "Show statistics",
      placeholder: "Message",
      send: "Send",
      attach: "Send a photo or a file",
      commands: "Bot commands",
      noCommands: "The bot has no commands here.",
      reply: "Reply",
      replyingTo: "Reply to",
      cancelReply: "Cancel the reply",
      start: "START",
      edited: "edited",
      photo: "Photo",
      file: "File",
      emptyReporter:
        "A person who has never written to the bot. Press START, as they would in Telegram.",
      emptyModerators: "Alert cards of new reports arrive here.",
      emptyCoordinator: "Ask the bot for figures with /stats.",
      connected: "live",
      reconnecting: "reconnecting…",
      sendFailed: "Not sent: {error}",
      footer:
        "Everything here is the real bot's output through a loopback Telegram emulator. Stop the demo with Ctrl-C in its terminal.",
    },
    ru: {
      title: "reportbot: демо",
      badge: "ДЕМО · ненастоящие данные",
      language: "Язык",
      languageHint:
        "Переключает телефон автора обращения на этот язык, переписка остаётся; если автор уже писал боту, язык меняется командой /language, как это сделал бы человек.",
      botName: "Бот для обращений (демо)",
      groupTitle: "Модераторы (демо)",
      name_bot: "Бот для обращений (демо)",
      name_moderator: "Модератор (демо)",
      name_coordinator: "Координатор (демо)",
      name_reporter: "Автор обращения (демо)",
      night: "Напряжённая ночь: отправлено {sent} из {total} смоделированных обращений. Карточки приходят сюда, а сводки — когда их больше, чем группа может принять.",
      nightFailed: "Не прошло смоделированных обращений: {n}; подробности в терминале.",
      reason_empty: "Нечего отправить.",
      reason_gone: "Этого сообщения уже нет.",
      reason_language: "Бот не сменил язык; попробуйте /language в чате.",
      reason_tooBig: "Файл больше 20 МБ — больше бот получить не может.",
      newReporter: "Новый автор",
      intro:
        "Настоящий бот работает с эмулятором Telegram на этом компьютере; в Telegram ничего не уходит. Сообщите о случае в чате автора обращения, посмотрите, как карточка приходит в чат модераторов, и запросите статистику как координатор.",
      reporter: "Автор",
      moderator: "Модератор",
      coordinator: "Координатор",
      reporterSub: "{name} · личный чат с ботом",
      moderatorsSub: "{name} · закрытая группа",
      coordinatorSub: "{name} · личный чат с ботом",
      statsMissing:
        "В этой версии бота ещё нет команды /stats; статистика появится здесь, когда она будет.",
      seeded: "В базе {n} ненастоящих примеров обращений (--seed).",
      showStats: "Показать статистику",
      placeholder: "Сообщение",
      send: "Отправить",
      attach: "Отправить фото или файл",
      commands: "Команды бота",
      noCommands: "Здесь у бота нет команд.",
      reply: "Ответить",
      replyingTo: "Ответ на",
      cancelReply: "Отменить ответ",
      start: "НАЧАТЬ",
      edited: "изменено",
      photo: "Фото",
      file: "Файл",
      emptyReporter:
        "Человек, который ещё не писал боту. Нажмите «НАЧАТЬ», как в Telegram.",
      emptyModerators: "Сюда приходят карточки новых обращений.",
      emptyCoordinator: "Запросите у бота статистику командой /stats.",
      connected: "на связи",
      reconnecting: "переподключение…",
      sendFailed: "Не отправлено: {error}",
      footer:
        "Всё на этой странице — ответы настоящего бота через локальный эмулятор Telegram. Остановить демо: Ctrl-C в его терминале.",
    },
    kk: {
      title: "reportbot: демо",
      badge: "ДЕМО · жалған деректер",
      language: "Тіл",
      languageHint:
        "Хабарлама авторының телефонын осы тілге ауыстырады, хат алмасу сақталады; автор ботқа жазып қойса, тіл адам сияқты /language командасымен өзгертіледі.",
      botName: "Хабарлама боты (демо)",
      groupTitle: "Модераторлар (демо)",
      name_bot: "Хабарлама боты (демо)",
      name_moderator: "Модератор (демо)",
      name_coordinator: "Үйлестіруші (демо)",
      name_reporter: "Хабарлама авторы (демо)",
      night: "Қауырт түн: үлгі хабарламалар жіберілді: {sent} / {total}. Карточкалар осында келеді, ал олар топ қабылдай алатыннан жиі келсе — жиынтықтар.",
      nightFailed: "Өтпеген үлгі хабарламалар: {n}; толығырақ терминалда.",
      reason_empty: "Жіберетін ештеңе жоқ.",
      reason_gone: "Бұл хат енді жоқ.",
      reason_language: "Бот тілді өзгертпеді; чатта /language командасын қолданып көріңіз.",
      reason_tooBig: "Файл 20 МБ-тан үлкен — бот одан үлкенін қабылдай алмайды.",
      newReporter: "Жаңа автор",
      intro:
        "Нағыз бот осы компьютердегі Telegram эмуляторымен жұмыс істейді; Telegram-ға ештеңе жіберілмейді. Хабарлама авторының чатында оқиға туралы хабарлаңыз, оның карточкасы модераторлар чатына қалай келетінін көріңіз, үйлестіруші ретінде статистика сұраңыз.",
      reporter: "Автор",
      moderator: "Модератор",
      coordinator: "Үйлестіруші",
      reporterSub: "{name} · ботпен жеке чат",
      moderatorsSub: "{name} · жабық топ",
      coordinatorSub: "{name} · ботпен жеке чат",
      statsMissing:
        "Боттың бұл нұсқасында /stats командасы әлі жоқ; ол пайда болғанда статистика осында көрсетіледі.",
      seeded: "Дерекқорда {n} жалған үлгі хабарлама бар (--seed).",
      showStats: "Статистиканы көрсету",
      placeholder: "Хабарлама",
      send: "Жіберу",
      attach: "Фото немесе файл жіберу",
      commands: "Бот командалары",
      noCommands: "Мұнда боттың командалары жоқ.",
      reply: "Жауап беру",
      replyingTo: "Жауап",
      cancelReply: "Жауапты болдырмау",
      start: "БАСТАУ",
      edited: "өңделді",
      photo: "Фото",
      file: "Файл",
      emptyReporter:
        "Ботқа әлі жазбаған адам. Telegram-дағыдай «БАСТАУ» түймесін басыңыз.",
      emptyModerators: "Жаңа хабарламалардың карточкалары осында келеді.",
      emptyCoordinator: "Статистиканы боттан /stats командасымен сұраңыз.",
      connected: "байланыста",
      reconnecting: "қайта қосылуда…",
      sendFailed: "Жіберілмеді: {error}",
      footer:
        "Бұл беттегінің бәрі — жергілікті Telegram эмуляторы арқылы нағыз боттың жауаптары. Демоны тоқтату: оның терминалында Ctrl-C.",
    },
  };
  const LOCALES = { kk: "kk-KZ", ru: "ru-RU", en: "en-GB" };
  const EMPTY = {
    reporter: "emptyReporter",
    moderators: "emptyModerators",
    coordinator: "emptyCoordinator",
  };
  const SUBTITLE = {
    reporter: "reporterSub",
    moderators: "moderatorsSub",
    coordinator: "coordinatorSub",
  };

  let lang = "ru";
  let state = null;
  let firstState = true;
  let connected = false;
  const seenToasts = new Set();
  const panes = new Map();

  function t(key, vars) {
    let text = (LABELS[lang] || LABELS.en)[key] ?? LABELS.en[key] ?? key;
    for (const [name, value] of Object.entries(vars || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function safeUrl(url) {
    try {
      const parsed = new URL(url, location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch {
      return null;
    }
  }

  // ------------------------------------------------------------------ talking to the server
  // What went wrong, in the page's language when the server names a reason it knows.
  function failure(response, data) {
    const reason = response.status === 413 ? "tooBig" : data.reason;
    const key = "reason_" + reason;
    const known = reason && key in (LABELS[lang] || LABELS.en);
    return new Error(known ? t(key) : data.error || String(response.status));
  }

  async function act(payload) {
    const response = await fetch("/api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    let data = {};
    try {
      data = await response.json();
    } catch {
      data = { ok: false, error: response.statusText };
    }
    if (!response.ok || !data.ok) throw failure(response, data);
    return data;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + "/api/ws");
    socket.addEventListener("open", () => setConnected(true));
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "state") applyState(message.state);
    });
    socket.addEventListener("close", () => {
      setConnected(false);
      setTimeout(connect, 1000);
    });
  }

  function setConnected(on) {
    connected = on;
    const box = document.getElementById("conn");
    box.dataset.state = on ? "on" : "off";
    document.getElementById("conn-text").textContent = on ? t("connected") : t("reconnecting");
  }

  // ------------------------------------------------------------------ rich text
  function entityNode(entity, covered, pane) {
    switch (entity.type) {
      case "bold":
        return el("b");
      case "italic":
        return el("i");
      case "underline":
        return el("u");
      case "strikethrough":
        return el("s");
      case "code":
        return el("code");
      case "pre":
        return el("pre");
      case "blockquote":
        return el("blockquote");
      case "expandable_blockquote": {
        // Shown folded to its first lines until tapped, as Telegram's apps draw an expandable
        // block quotation (core.telegram.org/bots/api#formatting-options).
        const node = el("blockquote", "expandable folded");
        node.addEventListener("click", () => node.classList.toggle("folded"));
        return node;
      }
      case "spoiler": {
        const node = el("span", "spoiler");
        node.addEventListener("click", () => node.classList.add("revealed"));
        return node;
      }
      case "text_link":
      case "url": {
        const href = safeUrl(entity.type === "url" ? covered : entity.url);
        if (!href) return el("span", "entity");
        const link = el("a");
        link.href = href;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        return link;
      }
      case "bot_command": {
        // Tapping a command in a message sends it, as in Telegram.
        const link = el("a", "cmd");
        link.href = "#";
        link.addEventListener("click", (event) => {
          event.preventDefault();
          sendText(pane, covered.split("@")[0]).catch(() => {});
        });
        return link;
      }
      default:
        return el("span", "entity " + entity.type);
    }
  }

  // Telegram's entity offsets count UTF-16 code units, as JavaScript strings do.
  function buildRich(parent, text, start, end, entities, pane) {
    let position = start;
    let i = 0;
    while (i < entities.length) {
      const entity = entities[i];
      const entityEnd = entity.offset + entity.length;
      const inner = [];
      let j = i + 1;
      while (j < entities.length && entities[j].offset < entityEnd) inner.push(entities[j++]);
      i = j;
      const from = Math.max(entity.offset, position);
      const to = Math.min(entityEnd, end);
      if (from >= to) continue;
      if (from > position) parent.append(text.slice(position, from));
      const node = entityNode(entity, text.slice(from, to), pane);
      buildRich(node, text, from, to, inner, pane);
      parent.append(node);
      position = to;
    }
    if (position < end) parent.append(text.slice(position, end));
  }

  function renderRich(parent, text, entities, pane) {
    const sorted = (entities || [])
      .filter((entity) => entity.length > 0)
      .sort((a, b) => a.offset - b.offset || b.length - a.length);
    buildRich(parent, text, 0, text.length, sorted, pane);
  }

  // ------------------------------------------------------------------ messages
  function formatTime(unix) {
    // In the bot's TIMEZONE (Almaty time by default), as its cards and receipts say times,
    // whatever the clock of the computer showing the page.
    const options = { hour: "2-digit", minute: "2-digit" };
    if (state && state.timezone) options.timeZone = state.timezone;
    return new Date(unix * 1000).toLocaleTimeString(LOCALES[lang] || "en-GB", options);
  }

  function formatSize(bytes) {
    if (!bytes) return "";
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  // People and chats are named in the page's language (the emulator knows one name each).
  function personName(id, fallback) {
    const role = state && state.people ? state.people[String(id)] : null;
    return role ? t("name_" + role) : fallback;
  }

  function kindLabel(kind) {
    if (kind === "photo") return t("photo");
    if (kind === "document") return t("file");
    return "[" + kind + "]";
  }

  function docIcon() {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "28");
    svg.setAttribute("height", "28");
    svg.setAttribute("aria-hidden", "true");
    svg.classList.add("doc-icon");
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M6 2h8l5 5v15H6z M14 2v5h5");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.6");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
    return svg;
  }

  function messageNode(message, pane, data) {
    const row = el("div", "msg " + (message.mine ? "mine" : "theirs"));
    row.dataset.id = String(message.id);
    row.dataset.from = message.from_bot ? "bot" : "user";
    const bubble = el("div", "bubble");
    if (!data.private && !message.mine) {
      bubble.append(el("div", "sender", personName(message.sender_id, message.sender)));
    }
    if (message.reply_to) {
      const quote = el("div", "quote");
      quote.dataset.replyTo = String(message.reply_to.id);
      quote.append(
        el("span", "quote-sender", personName(message.reply_to.sender_id, message.reply_to.sender)),
        el("span", "quote-text", message.reply_to.excerpt || kindLabel(message.reply_to.kind)),
      );
      quote.addEventListener("click", () => {
        const target = pane.nodes.get(message.reply_to.id);
        if (target) target.node.scrollIntoView({ block: "center", behavior: "smooth" });
      });
      bubble.append(quote);
    }
    if (message.photo) {
      const link = el("a", "photo-link");
      link.href = message.photo.url;
      link.target = "_blank";
      link.rel = "noopener";
      const image = el("img", "photo");
      image.src = message.photo.url;
      image.alt = t("photo");
      image.loading = "lazy";
      if (message.photo.width && message.photo.height) {
        image.style.aspectRatio = message.photo.width + " / " + message.photo.height;
      }
      image.addEventListener("load", () => {
        if (pane.stickToBottom) pane.chat.scrollTop = pane.chat.scrollHeight;
      });
      link.append(image);
      bubble.append(link);
    }
    if (message.document) {
      const link = el("a", "doc");
      link.href = message.document.url;
      link.download = message.document.name;
      link.append(
        docIcon(),
        el("span", "doc-name", message.document.name),
        el("span", "doc-size", formatSize(message.document.size)),
      );
      bubble.append(link);
    }
    const body = message.text ?? message.caption;
    const entities = message.text !== null ? message.entities : message.caption_entities;
    if (body) {
      const text = el("div", "text");
      renderRich(text, body, entities, pane);
      bubble.append(text);
    } else if (!message.photo && !message.document) {
      bubble.append(el("div", "text unsupported", "[" + message.kind + "]"));
    }
    const meta = el("div", "meta");
    if (message.edited) meta.append(el("span", "edited", t("edited")));
    meta.append(el("time", null, formatTime(message.date)));
    bubble.append(meta);

    const reply = el("button", "reply-btn", "↩");
    reply.type = "button";
    reply.title = t("reply");
    reply.setAttribute("aria-label", t("reply"));
    reply.addEventListener("click", () => setReply(pane, message));
    const main = el("div", "msg-main");
    main.append(bubble, reply);
    row.append(main);

    if (message.keyboard.length) {
      const keyboard = el("div", "kb");
      for (const buttons of message.keyboard) {
        const line = el("div", "kb-row");
        for (const button of buttons) {
          const node = el("button", "kb-btn", button.text);
          node.type = "button";
          node.title = button.text; // a label cut to fit, as Telegram cuts it, shown whole
          if (button.data !== null && button.data !== undefined) {
            node.addEventListener("click", () => press(pane, message.id, button.data, node));
          } else if (button.url && safeUrl(button.url)) {
            node.classList.add("url");
            node.addEventListener("click", () =>
              window.open(safeUrl(button.url), "_blank", "noopener"),
            );
          } else {
            node.disabled = true;
          }
          line.append(node);
        }
        keyboard.append(line);
      }
      row.append(keyboard);
    }
    return row;
  }

  function renderMessages(pane, data) {
    const chat = pane.chat;
    if (pane.chatId !== data.chat_id) {
      // A new reporter (another language): a different chat altogether.
      pane.chatId = data.chat_id;
      pane.nodes.clear();
      chat.replaceChildren();
      setReply(pane, null);
      pane.stickToBottom = true;
    }
    const stick = pane.stickToBottom || pane.atBottom;
    const present = new Set();
    let wroteMine = false;
    for (const message of data.messages) {
      present.add(message.id);
      const key = JSON.stringify(message);
      const entry = pane.nodes.get(message.id);
      if (entry && entry.key === key) continue;
      const node = messageNode(message, pane, data);
      if (entry) {
        entry.node.replaceWith(node); // edited: new text, new buttons
      } else {
        chat.append(node); // ids only grow, so a new message goes last
        if (message.mine) wroteMine = true;
      }
      pane.nodes.set(message.id, { node, key });
    }
    for (const [id, entry] of pane.nodes) {
      if (!present.has(id)) {
        entry.node.remove(); // deleted by the bot
        pane.nodes.delete(id);
      }
    }
    let empty = chat.querySelector(".empty");
    if (data.messages.length === 0) {
      if (!empty) {
        empty = el("div", "empty");
        chat.append(empty);
      }
      empty.textContent = t(EMPTY[pane.name]);
    } else if (empty) {
      empty.remove();
    }
    if (stick || wroteMine) chat.scrollTop = chat.scrollHeight;
    pane.stickToBottom = false;
  }

  // ------------------------------------------------------------------ a pane
  function showToast(pane, text, kind) {
    const toast = el("div", "toast" + (kind ? " " + kind : ""), text);
    pane.toasts.append(toast);
    setTimeout(() => toast.remove(), kind === "alert" || kind === "error" ? 6000 : 3000);
  }

  function setReply(pane, message) {
    pane.replyTo = message ? message.id : null;
    pane.replyBar.hidden = !message;
    if (message) {
      pane.replyLabel.textContent =
        t("replyingTo") + " · " + personName(message.sender_id, message.sender) + ":";
      const excerpt = message.text ?? message.caption ?? kindLabel(message.kind);
      pane.replyExcerpt.textContent = excerpt.slice(0, 100);
      pane.input.focus();
    }
  }

  async function sendText(pane, text) {
    if (!text.trim()) return;
    const payload = { op: "text", pane: pane.name, text };
    if (pane.replyTo !== null) payload.reply_to = pane.replyTo;
    setReply(pane, null);
    pane.stickToBottom = true;
    try {
      await act(payload);
    } catch (error) {
      showToast(pane, t("sendFailed", { error: error.message }), "error");
      throw error;
    }
  }

  async function submitComposer(pane) {
    const text = pane.input.value;
    if (!text.trim()) return;
    pane.input.value = "";
    autosize(pane.input);
    try {
      await sendText(pane, text);
    } catch {
      pane.input.value = text; // nothing was sent: keep what the person wrote
      autosize(pane.input);
    }
  }

  async function press(pane, messageId, data, button) {
    // Busy until the bot answers the press (the server waits for the answer), then free
    // again, whether or not the message changed: "Ask the reporter" only sends a prompt.
    button.classList.add("busy");
    try {
      await act({ op: "press", pane: pane.name, message_id: messageId, data });
    } catch (error) {
      showToast(pane, t("sendFailed", { error: error.message }), "error");
    } finally {
      button.classList.remove("busy");
    }
  }

  async function upload(pane) {
    const file = pane.file.files[0];
    pane.file.value = "";
    if (!file) return;
    const form = new FormData();
    form.append("pane", pane.name);
    if (pane.replyTo !== null) form.append("reply_to", String(pane.replyTo));
    form.append("file", file, file.name);
    setReply(pane, null);
    pane.stickToBottom = true;
    try {
      const response = await fetch("/api/upload", { method: "POST", body: form });
      const data = await response.json().catch(() => ({ ok: false }));
      if (!response.ok || !data.ok) throw failure(response, data);
    } catch (error) {
      showToast(pane, t("sendFailed", { error: error.message }), "error");
    }
  }

  function autosize(input) {
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 120) + "px";
  }

  function renderMenu(pane, data) {
    pane.menu.replaceChildren();
    pane.menu.append(el("div", "menu-title", t("commands")));
    if (!data.commands.length) pane.menu.append(el("div", "menu-empty", t("noCommands")));
    for (const command of data.commands) {
      const item = el("button", "menu-item");
      item.type = "button";
      item.append(
        el("span", "cmd-name", "/" + command.command),
        el("span", "cmd-desc", command.description),
      );
      item.addEventListener("click", () => {
        pane.menu.hidden = true;
        sendText(pane, "/" + command.command).catch(() => {});
      });
      pane.menu.append(item);
    }
  }

  function setupPane(section) {
    const template = document.getElementById("composer-template");
    section.append(template.content.cloneNode(true));
    const pane = {
      name: section.dataset.pane,
      section,
      chat: section.querySelector(".chat"),
      nodes: new Map(),
      chatId: null,
      replyTo: null,
      stickToBottom: true,
      atBottom: true,
      input: section.querySelector(".input"),
      form: section.querySelector(".composer"),
      file: section.querySelector(".file"),
      menu: section.querySelector(".menu"),
      replyBar: section.querySelector(".reply-bar"),
      replyLabel: section.querySelector(".reply-label"),
      replyExcerpt: section.querySelector(".reply-excerpt"),
      startBar: section.querySelector(".start-bar"),
      toasts: section.querySelector(".toasts"),
      notes: section.querySelector(".notes"),
      data: null,
    };
    pane.form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitComposer(pane);
    });
    pane.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submitComposer(pane);
      }
    });
    pane.input.addEventListener("input", () => autosize(pane.input));
    // Follow the newest message unless the person scrolled up to read, also when the pane
    // changes size (a narrower window, the reply bar or the command menu opening).
    pane.chat.addEventListener("scroll", () => {
      const chat = pane.chat;
      pane.atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 80;
    });
    new ResizeObserver(() => {
      if (pane.atBottom) pane.chat.scrollTop = pane.chat.scrollHeight;
    }).observe(pane.chat);
    section.querySelector(".attach-btn").addEventListener("click", () => pane.file.click());
    pane.file.addEventListener("change", () => upload(pane));
    section.querySelector(".menu-btn").addEventListener("click", () => {
      pane.menu.hidden = !pane.menu.hidden;
    });
    section.querySelector(".reply-cancel").addEventListener("click", () => setReply(pane, null));
    section.querySelector(".start").addEventListener("click", () => {
      sendText(pane, "/start").catch(() => {});
    });
    const quick = section.querySelector(".quick-stats");
    if (quick) {
      quick.addEventListener("click", () => sendText(pane, quick.dataset.command).catch(() => {}));
    }
    panes.set(pane.name, pane);
  }

  function renderPane(pane, data) {
    pane.data = data;
    pane.section.querySelector(".chat-title").textContent =
      pane.name === "moderators" ? t("groupTitle") : t("botName");
    pane.section.querySelector(".chat-sub").textContent = t(SUBTITLE[pane.name], {
      name: personName(data.me.id, data.me.name),
    });
    renderMessages(pane, data);
    // A bot chat nobody has written in yet shows Telegram's START button instead of the keyboard.
    const fresh = pane.name === "reporter" && data.messages.length === 0;
    pane.startBar.hidden = !fresh;
    pane.form.hidden = fresh;
    renderMenu(pane, data);
    for (const toast of data.toasts) {
      if (seenToasts.has(toast.id)) continue;
      seenToasts.add(toast.id);
      if (!firstState) showToast(pane, toast.text, toast.alert ? "alert" : "");
    }
  }

  function renderNotes() {
    const pane = panes.get("coordinator");
    if (!pane || !state) return;
    pane.notes.replaceChildren();
    if (!state.features.stats) pane.notes.append(el("div", "note", t("statsMissing")));
    if (state.seeded) pane.notes.append(el("div", "note info", t("seeded", { n: state.seeded })));
    const moderators = panes.get("moderators");
    const night = state.night;
    if (!moderators || !night) return;
    moderators.notes.replaceChildren();
    if (night.total) {
      moderators.notes.append(
        el("div", "note info night", t("night", { sent: night.sent, total: night.total })),
      );
    }
    if (night.failed) {
      moderators.notes.append(el("div", "note", t("nightFailed", { n: night.failed })));
    }
  }

  // ------------------------------------------------------------------ labels and state
  function applyLabels() {
    document.documentElement.lang = lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const button of document.querySelectorAll(".lang")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
      button.title = t("languageHint");
    }
    for (const pane of panes.values()) {
      const role = pane.section.querySelector(".role");
      pane.section.querySelector(".avatar").textContent = role.textContent.slice(0, 1);
      pane.input.placeholder = t("placeholder");
      pane.section.querySelector(".send-btn").title = t("send");
      pane.section.querySelector(".send-btn").setAttribute("aria-label", t("send"));
      pane.section.querySelector(".attach-btn").title = t("attach");
      pane.section.querySelector(".attach-btn").setAttribute("aria-label", t("attach"));
      pane.section.querySelector(".menu-btn").title = t("commands");
      pane.section.querySelector(".menu-btn").setAttribute("aria-label", t("commands"));
      pane.section.querySelector(".reply-cancel").title = t("cancelReply");
      pane.section.querySelector(".reply-cancel").setAttribute("aria-label", t("cancelReply"));
      pane.section.querySelector(".start").textContent = t("start");
      // Labels inside messages ("edited", "Reply") are redrawn in the new language.
      pane.nodes.forEach((entry) => (entry.key = ""));
    }
    setConnected(connected);
  }

  function browserLanguage() {
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const code = tag.slice(0, 2).toLowerCase();
      if (code in LABELS) return code;
    }
    return null;
  }

  function applyState(next) {
    const languageChanged = next.language !== lang || firstState;
    state = next;
    lang = next.language in LABELS ? next.language : "en";
    if (languageChanged) applyLabels();
    for (const [name, data] of Object.entries(next.panes)) {
      const pane = panes.get(name);
      if (pane) renderPane(pane, data);
    }
    renderNotes();
    if (firstState) {
      firstState = false;
      // Like Telegram, the reporter's app speaks the language of the browser, unless they
      // have already started talking to the bot.
      const wanted = browserLanguage();
      if (wanted && wanted !== next.language && next.panes.reporter.messages.length === 0) {
        act({ op: "language", lang: wanted }).catch(() => {});
      }
    }
  }

  function init() {
    for (const section of document.querySelectorAll(".phone")) setupPane(section);
    for (const button of document.querySelectorAll(".lang")) {
      button.addEventListener("click", () => {
        act({ op: "language", lang: button.dataset.lang }).catch(() => {});
      });
    }
    document.getElementById("new-reporter").addEventListener("click", () => {
      act({ op: "new_reporter" }).catch(() => {});
    });
    applyLabels();
    connect();
  }

  init();
})();
