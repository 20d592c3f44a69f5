// Slack playground page: renders Block Kit messages from the playground server and sends commands
// and clicks back to it. Untrusted text only ever reaches the DOM through textContent / text nodes.
(function () {
  "use strict";

  var POLL_WAIT_SECONDS = 20;
  var RETRY_DELAY_MS = 1000;

  var config = null;
  var version = 0;
  var activeChannel = null;
  var channels = {}; // id -> {id, name}
  var messages = {}; // id -> message json
  var nodes = {}; // id -> rendered element
  var panes = {}; // channel id -> pane element
  var unread = {}; // channel id -> count
  var optionData = new WeakMap(); // checkbox input / select option -> option object from the blocks

  // ----- small DOM helpers ---------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "class") node.className = value;
        else if (key === "text") node.textContent = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function $(testid, root) {
    return (root || document).querySelector('[data-testid="' + testid + '"]');
  }

  function postJson(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, error: "http_" + response.status };
      });
    });
  }

  // ----- mrkdwn --------------------------------------------------------------------------------

  var EMOJI = {
    white_check_mark: "\u2705", heavy_check_mark: "\u2714\uFE0F", x: "\u274C", warning: "\u26A0\uFE0F",
    rotating_light: "\uD83D\uDEA8", email: "\uD83D\uDCE7", envelope: "\u2709\uFE0F", e_mail: "\uD83D\uDCE7",
    incoming_envelope: "\uD83D\uDCE8", link: "\uD83D\uDD17", arrows_counterclockwise: "\uD83D\uDD04",
    repeat: "\uD83D\uDD01", hourglass: "\u231B", hourglass_flowing_sand: "\u23F3", mag: "\uD83D\uDD0D",
    information_source: "\u2139\uFE0F", no_entry: "\u26D4", no_entry_sign: "\uD83D\uDEAB", lock: "\uD83D\uDD12",
    bell: "\uD83D\uDD14", no_bell: "\uD83D\uDD15", calendar: "\uD83D\uDCC6", date: "\uD83D\uDCC5", clock1: "\uD83D\uDD50",
    tada: "\uD83C\uDF89", zap: "\u26A1", inbox_tray: "\uD83D\uDCE5", outbox_tray: "\uD83D\uDCE4",
    red_circle: "\uD83D\uDD34", large_green_circle: "\uD83D\uDFE2", large_yellow_circle: "\uD83D\uDFE1",
    white_circle: "\u26AA", black_circle: "\u26AB", page_facing_up: "\uD83D\uDCC4", memo: "\uD83D\uDCDD",
    bar_chart: "\uD83D\uDCCA", chart_with_upwards_trend: "\uD83D\uDCC8", thumbsup: "\uD83D\uDC4D",
    "+1": "\uD83D\uDC4D", thinking_face: "\uD83E\uDD14", sparkles: "\u2728", wave: "\uD83D\uDC4B",
    eyes: "\uD83D\uDC40", arrow_right: "\u27A1\uFE0F", leftwards_arrow_with_hook: "\u21A9\uFE0F",
    heavy_minus_sign: "\u2796", heavy_plus_sign: "\u2795", satellite_antenna: "\uD83D\uDCE1",
    electric_plug: "\uD83D\uDD0C", shield: "\uD83D\uDEE1\uFE0F", key: "\uD83D\uDD11", gear: "\u2699\uFE0F",
    moneybag: "\uD83D\uDCB0", credit_card: "\uD83D\uDCB3", receipt: "\uD83E\uDDFE", robot_face: "\uD83E\uDD16",
    question: "\u2753", grey_question: "\u2754", exclamation: "\u2757", broken_heart: "\uD83D\uDC94",
    stopwatch: "\u23F1\uFE0F", clipboard: "\uD83D\uDCCB", card_index: "\uD83D\uDCC7", pushpin: "\uD83D\uDCCC",
  };

  function unescapeEntities(text) {
    // Slack escapes only these three; decoding happens here, at render time, into text nodes.
    return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
  }

  function emojify(text) {
    return text.replace(/:([a-z0-9_+\-]+):/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(EMOJI, name) ? EMOJI[name] : whole;
    });
  }

  function plainText(obj) {
    if (!obj) return "";
    if (typeof obj === "string") return unescapeEntities(obj);
    var text = unescapeEntities(String(obj.text || ""));
    return obj.emoji === false ? text : emojify(text);
  }

  // Text objects: mrkdwn is parsed, plain_text shown as is (both end up as text nodes).
  function textObject(obj, testid) {
    var span = el("span", { class: "text", "data-testid": testid || null });
    if (!obj) return span;
    if (obj.type === "mrkdwn") {
      span.classList.add("mrkdwn");
      span.appendChild(mrkdwn(String(obj.text || "")));
    } else {
      span.textContent = plainText(obj);
    }
    return span;
  }

  var MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December"];
  var DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

  function ordinal(n) {
    var s = ["th", "st", "nd", "rd"];
    var v = n % 100;
    return n + (s[(v - 20) % 10] || s[v] || s[0]);
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function dayOffset(date) {
    var today = new Date();
    today.setHours(0, 0, 0, 0);
    var that = new Date(date.getTime());
    that.setHours(0, 0, 0, 0);
    return Math.round((that - today) / 86400000);
  }

  function prettyDay(date) {
    var offset = dayOffset(date);
    if (offset === 0) return "today";
    if (offset === -1) return "yesterday";
    if (offset === 1) return "tomorrow";
    return null;
  }

  function ago(date) {
    var seconds = Math.round((Date.now() - date.getTime()) / 1000);
    var future = seconds < 0;
    var abs = Math.abs(seconds);
    var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      var count = Math.floor(abs / units[i][1]);
      if (count >= 1) {
        var phrase = count + " " + units[i][0] + (count === 1 ? "" : "s");
        return future ? "in " + phrase : phrase + " ago";
      }
    }
    return future ? "in a few seconds" : "just now";
  }

  // Formats Slack's <!date^epoch^{tokens}> in the browser's local time zone.
  function formatDate(epoch, format) {
    var date = new Date(epoch * 1000);
    var long = DAYS[date.getDay()] + ", " + MONTHS[date.getMonth()] + " " + ordinal(date.getDate()) + ", " + date.getFullYear();
    var normal = MONTHS[date.getMonth()] + " " + ordinal(date.getDate()) + ", " + date.getFullYear();
    var short = MONTHS[date.getMonth()].slice(0, 3) + " " + date.getDate() + ", " + date.getFullYear();
    var pretty = prettyDay(date);
    var tokens = {
      date_num: date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()),
      date: normal,
      date_short: short,
      date_long: long,
      date_pretty: pretty || normal,
      date_short_pretty: pretty || short,
      date_long_pretty: pretty || long,
      time: date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }),
      time_secs: date.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", second: "2-digit" }),
      ago: ago(date),
    };
    var unknown = false;
    var out = format.replace(/\{([a-z_]+)\}/g, function (whole, name) {
      if (Object.prototype.hasOwnProperty.call(tokens, name)) return tokens[name];
      unknown = true;
      return whole;
    });
    return unknown ? null : out;
  }

  function safeUrl(url) {
    return /^(https?:|mailto:)/i.test(String(url));
  }

  // Url buttons open a new tab, like Slack; anything but http(s)/mailto (javascript:...) is refused.
  function openUrl(url) {
    if (safeUrl(url)) window.open(String(url), "_blank", "noopener,noreferrer");
    else console.warn("refused to open", url);
  }

  function link(url, label) {
    var safe = safeUrl(url);
    if (!safe) return el("span", { class: "link-unsafe", title: url, text: label });
    var a = el("a", { href: url, target: "_blank", rel: "noopener noreferrer", "data-testid": "link", text: label });
    return a;
  }

  function channelName(id) {
    return channels[id] ? channels[id].name : id;
  }

  function userName(id) {
    if (config && id === config.me.id) return config.me.name;
    if (config && id === config.bot.id) return config.bot.name;
    return id;
  }

  // One <...> control sequence (raw, still escaped) to a DOM node.
  function controlNode(inner) {
    var bar = inner.indexOf("|");
    var target = bar >= 0 ? inner.slice(0, bar) : inner;
    var label = bar >= 0 ? unescapeEntities(inner.slice(bar + 1)) : null;
    var head = target.charAt(0);
    if (head === "@") {
      var uid = target.slice(1);
      return el("span", { class: "mention", "data-testid": "mention", "data-user-id": uid, text: "@" + (label || userName(uid)) });
    }
    if (head === "#") {
      var cid = target.slice(1);
      return el("span", { class: "mention channel-mention", "data-testid": "channel-mention", "data-channel-id": cid, text: "#" + (label || channelName(cid)) });
    }
    if (head === "!") {
      var command = target.slice(1);
      if (command.indexOf("date^") === 0) {
        var parts = command.split("^");
        var epoch = Number(parts[1]);
        var formatted = isFinite(epoch) && parts.length >= 3 ? formatDate(epoch, unescapeEntities(parts[2])) : null;
        var text = formatted === null ? (label || command) : formatted;
        var attrs = { class: "date", "data-testid": "date", "data-epoch": parts[1], title: isFinite(epoch) ? new Date(epoch * 1000).toString() : null, text: text };
        if (parts[3] && formatted !== null) return link(unescapeEntities(parts[3]), text);
        return el("span", attrs);
      }
      if (command.indexOf("subteam^") === 0) {
        return el("span", { class: "mention", "data-testid": "mention", text: label || "@" + command.slice(8) });
      }
      return el("span", { class: "mention broadcast", "data-testid": "broadcast", text: "@" + (label || command) });
    }
    var url = unescapeEntities(target);
    return link(url, label || url);
  }

  // Inline pieces (control sequences and inline code) become placeholders so *bold* can wrap them.
  var PLACEHOLDER = /[\uE000-\uF8FF]/g;

  function mrkdwn(raw) {
    var fragment = document.createDocumentFragment();
    var source = String(raw).replace(PLACEHOLDER, "\uFFFD");
    var fence = /```([\s\S]*?)```/g;
    var last = 0;
    var match;
    while ((match = fence.exec(source)) !== null) {
      if (match.index > last) fragment.appendChild(inline(source.slice(last, match.index)));
      fragment.appendChild(el("pre", { class: "code-block", "data-testid": "code-block", text: unescapeEntities(match[1].replace(/^\n/, "")) }));
      last = fence.lastIndex;
    }
    if (last < source.length) fragment.appendChild(inline(source.slice(last)));
    return fragment;
  }

  function inline(text) {
    var atoms = [];
    var masked = text.replace(/`([^`\n]+)`|<([^<>\n]+)>/g, function (whole, code, control) {
      atoms.push(code !== undefined ? el("code", { "data-testid": "code", text: unescapeEntities(code) }) : controlNode(control));
      return String.fromCharCode(0xE000 + atoms.length - 1);
    });
    var fragment = document.createDocumentFragment();
    var quote = null;
    masked.split("\n").forEach(function (line, index) {
      var isQuote = /^(&gt;|>)/.test(line);
      var parts = emphasis(isQuote ? line.replace(/^(&gt;|>) ?/, "") : line, atoms);
      if (isQuote) {
        if (quote) quote.appendChild(el("br"));
        else {
          quote = el("blockquote", { "data-testid": "quote" });
          fragment.appendChild(quote);
        }
        parts.forEach(function (n) { quote.appendChild(n); });
        return;
      }
      // A quote is a block of its own, so the line after it needs no break.
      if (index > 0 && !quote) fragment.appendChild(el("br"));
      quote = null;
      parts.forEach(function (n) { fragment.appendChild(n); });
    });
    return fragment;
  }

  var MARKS = [
    { char: "*", tag: "strong", testid: "bold" },
    { char: "_", tag: "em", testid: "italic" },
    { char: "~", tag: "s", testid: "strike" },
  ];

  function markPattern(ch) {
    var e = ch === "*" ? "\\*" : ch;
    // Opens after a non-word character, closes before one; no spaces just inside the markers.
    return new RegExp("(?<![\\p{L}\\p{N}" + e + "])" + e + "(?![\\s" + e + "])([^\\n]*?[^\\s" + e + "]|[^\\s" + e + "])" + e + "(?![\\p{L}\\p{N}" + e + "])", "u");
  }
  var MARK_PATTERNS = MARKS.map(function (m) { return markPattern(m.char); });

  function emphasis(text, atoms) {
    var out = [];
    var rest = text;
    while (rest.length) {
      var best = null;
      for (var i = 0; i < MARKS.length; i++) {
        var found = MARK_PATTERNS[i].exec(rest);
        if (found && (best === null || found.index < best.match.index)) best = { mark: MARKS[i], match: found };
      }
      if (!best) {
        out.push(expand(rest, atoms));
        break;
      }
      if (best.match.index > 0) out.push(expand(rest.slice(0, best.match.index), atoms));
      var wrapper = el(best.mark.tag, { "data-testid": best.mark.testid });
      emphasis(best.match[1], atoms).forEach(function (n) { wrapper.appendChild(n); });
      out.push(wrapper);
      rest = rest.slice(best.match.index + best.match[0].length);
    }
    return out;
  }

  // Text with placeholders back to text nodes and the atoms they stand for.
  function expand(text, atoms) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    text.replace(PLACEHOLDER, function (ch, offset) {
      if (offset > last) fragment.appendChild(document.createTextNode(emojify(unescapeEntities(text.slice(last, offset)))));
      var atom = atoms[ch.charCodeAt(0) - 0xE000];
      if (atom) fragment.appendChild(atom.cloneNode(true));
      last = offset + 1;
      return ch;
    });
    if (last < text.length) fragment.appendChild(document.createTextNode(emojify(unescapeEntities(text.slice(last)))));
    return fragment;
  }

  // ----- Block Kit -----------------------------------------------------------------------------

  function renderBlocks(blocks, ctx) {
    var container = el("div", { class: "blocks", "data-testid": "blocks" });
    blocks.forEach(function (block, index) {
      var node = renderBlock(block, ctx, index);
      node.setAttribute("data-block-type", String(block.type));
      if (block.block_id) node.setAttribute("data-block-id", String(block.block_id));
      container.appendChild(node);
    });
    return container;
  }

  function blockIdOf(block, index) {
    // Slack assigns an id when a block has none; the playground uses a stable made-up one.
    return block.block_id ? String(block.block_id) : "pg-block-" + index;
  }

  function renderBlock(block, ctx, index) {
    var blockId = blockIdOf(block, index);
    switch (block.type) {
      case "header":
        return el("h3", { class: "block block-header", "data-testid": "block-header" }, [textObject(block.text)]);
      case "divider":
        return el("hr", { class: "block block-divider", "data-testid": "block-divider" });
      case "section":
        return renderSection(block, ctx, blockId);
      case "context":
        return el("div", { class: "block block-context", "data-testid": "block-context" },
          (block.elements || []).map(function (item) { return contextElement(item); }));
      case "actions":
        return el("div", { class: "block block-actions", "data-testid": "block-actions" },
          (block.elements || []).map(function (item) { return interactive(item, ctx, blockId); }));
      case "image":
        return el("figure", { class: "block block-image", "data-testid": "block-image" }, [
          block.title ? el("figcaption", {}, [textObject(block.title)]) : null,
          el("span", { class: "image-alt", "data-testid": "image-alt", title: block.image_url || null, text: "[image: " + (block.alt_text || "") + "]" }),
        ]);
      case "rich_text":
        return el("div", { class: "block block-rich-text", "data-testid": "block-rich-text" },
          (block.elements || []).map(richTextElement));
      default:
        return el("div", { class: "block block-unsupported", "data-testid": "block-unsupported", text: "[" + String(block.type) + " block: not shown in the playground]" });
    }
  }

  function renderSection(block, ctx, blockId) {
    var body = el("div", { class: "section-body" });
    if (block.text) body.appendChild(el("div", { class: "section-text", "data-testid": "section-text" }, [textObject(block.text)]));
    if (block.fields && block.fields.length) {
      body.appendChild(el("div", { class: "section-fields", "data-testid": "section-fields" },
        block.fields.map(function (f) { return el("div", { class: "section-field", "data-testid": "section-field" }, [textObject(f)]); })));
    }
    var children = [body];
    if (block.accessory) {
      children.push(el("div", { class: "section-accessory", "data-testid": "accessory" }, [interactive(block.accessory, ctx, blockId)]));
    }
    return el("div", { class: "block block-section", "data-testid": "block-section" }, children);
  }

  function contextElement(item) {
    if (item.type === "image") {
      return el("span", { class: "context-image", "data-testid": "context-image", title: item.image_url || null, text: "[" + (item.alt_text || "image") + "]" });
    }
    return el("span", { class: "context-text" }, [textObject(item)]);
  }

  function richTextElement(item) {
    if (item.type === "rich_text_preformatted") {
      return el("pre", { class: "code-block" }, [richInline(item.elements || [])]);
    }
    if (item.type === "rich_text_quote") return el("blockquote", {}, [richInline(item.elements || [])]);
    if (item.type === "rich_text_list") {
      return el(item.style === "ordered" ? "ol" : "ul", {}, (item.elements || []).map(function (sub) { return el("li", {}, [richInline(sub.elements || [])]); }));
    }
    return el("div", {}, [richInline(item.elements || [])]);
  }

  function richInline(elements) {
    var fragment = document.createDocumentFragment();
    elements.forEach(function (part) {
      var node;
      if (part.type === "link") node = link(String(part.url || ""), String(part.text || part.url || ""));
      else if (part.type === "user") node = el("span", { class: "mention", text: "@" + userName(part.user_id) });
      else if (part.type === "channel") node = el("span", { class: "mention", text: "#" + channelName(part.channel_id) });
      else if (part.type === "emoji") node = document.createTextNode(EMOJI[part.name] || ":" + part.name + ":");
      else if (part.type === "broadcast") node = el("span", { class: "mention broadcast", text: "@" + part.range });
      else node = document.createTextNode(String(part.text || ""));
      var style = part.style || {};
      if (style.code) node = el("code", {}, [node]);
      if (style.bold) node = el("strong", {}, [node]);
      if (style.italic) node = el("em", {}, [node]);
      if (style.strike) node = el("s", {}, [node]);
      fragment.appendChild(node);
    });
    return fragment;
  }

  function interactive(item, ctx, blockId) {
    switch (item.type) {
      case "button":
        return renderButton(item, ctx, blockId);
      case "checkboxes":
        return renderCheckboxes(item, ctx, blockId);
      case "overflow":
        return renderOverflow(item, ctx, blockId);
      case "static_select":
        return renderSelect(item, ctx, blockId);
      case "image":
        return el("span", { class: "context-image", "data-testid": "accessory-image", text: "[" + (item.alt_text || "image") + "]" });
      default:
        return el("span", { class: "block-unsupported", "data-testid": "element-unsupported", text: "[" + String(item.type) + " element]" });
    }
  }

  function renderButton(item, ctx, blockId) {
    var style = item.style === "primary" || item.style === "danger" ? item.style : null;
    var button = el("button", {
      type: "button",
      class: "btn" + (style ? " btn-" + style : ""),
      "data-testid": item.url ? "link-button" : "button",
      "data-action-id": item.action_id || "",
      "data-block-id": blockId,
      "data-value": item.value !== undefined ? item.value : null,
      "data-url": item.url || null,
      "data-style": style,
      "data-confirm": item.confirm ? "true" : null,
    }, [plainText(item.text)]);
    button.addEventListener("click", function () {
      if (item.url) openUrl(item.url);
      confirmFirst(item.confirm).then(function (ok) {
        if (!ok) return;
        var action = { type: "button", action_id: item.action_id, block_id: blockId, text: plainText(item.text) };
        if (item.value !== undefined) action.value = item.value;
        if (item.url) action.url = item.url;
        if (style) action.style = style;
        sendAction(ctx, action, button);
      });
    });
    return button;
  }

  function optionLabel(option) {
    var wrap = el("span", { class: "option-text" }, [textObject(option.text)]);
    if (option.description) wrap.appendChild(el("span", { class: "option-description" }, [textObject(option.description)]));
    return wrap;
  }

  function renderCheckboxes(item, ctx, blockId) {
    var initial = {};
    (item.initial_options || []).forEach(function (o) { initial[o.value] = true; });
    var group = el("div", {
      class: "checkboxes",
      "data-testid": "checkboxes",
      "data-element": "checkboxes",
      "data-action-id": item.action_id || "",
      "data-block-id": blockId,
    });
    (item.options || []).forEach(function (option) {
      var input = el("input", { type: "checkbox", "data-testid": "checkbox", "data-value": option.value });
      input.checked = !!initial[option.value];
      optionData.set(input, option);
      input.addEventListener("change", function () {
        var selected = checkedOptions(group);
        sendAction(ctx, { type: "checkboxes", action_id: item.action_id, block_id: blockId, selected_options: selected }, null);
      });
      group.appendChild(el("label", { class: "checkbox-option", "data-testid": "checkbox-option", "data-value": option.value }, [input, optionLabel(option)]));
    });
    return group;
  }

  function checkedOptions(group) {
    var selected = [];
    group.querySelectorAll('input[type="checkbox"]').forEach(function (input) {
      if (input.checked) selected.push(optionData.get(input));
    });
    return selected;
  }

  function renderOverflow(item, ctx, blockId) {
    var wrap = el("span", { class: "overflow", "data-testid": "overflow", "data-action-id": item.action_id || "", "data-block-id": blockId });
    var toggle = el("button", { type: "button", class: "btn overflow-toggle", "data-testid": "overflow-toggle", "aria-label": "More actions", text: "\u22EF" });
    var menu = el("div", { class: "overflow-menu", "data-testid": "overflow-menu", hidden: true });
    (item.options || []).forEach(function (option) {
      var entry = el("button", { type: "button", class: "overflow-option", "data-testid": "overflow-option", "data-value": option.value }, [plainText(option.text)]);
      entry.addEventListener("click", function () {
        menu.hidden = true;
        if (option.url) openUrl(option.url);
        confirmFirst(item.confirm).then(function (ok) {
          if (ok) sendAction(ctx, { type: "overflow", action_id: item.action_id, block_id: blockId, selected_option: option }, toggle);
        });
      });
      menu.appendChild(entry);
    });
    toggle.addEventListener("click", function () { menu.hidden = !menu.hidden; });
    wrap.appendChild(toggle);
    wrap.appendChild(menu);
    return wrap;
  }

  function renderSelect(item, ctx, blockId) {
    var select = el("select", { class: "select", "data-testid": "static-select", "data-element": "static_select", "data-action-id": item.action_id || "", "data-block-id": blockId });
    select.appendChild(el("option", { value: "", text: plainText(item.placeholder) || "Select…" }));
    var options = item.options || [];
    (item.option_groups || []).forEach(function (g) { options = options.concat(g.options || []); });
    options.forEach(function (option, i) {
      var node = el("option", { value: String(i), text: plainText(option.text) });
      if (item.initial_option && item.initial_option.value === option.value) node.selected = true;
      optionData.set(node, option);
      select.appendChild(node);
    });
    select.addEventListener("change", function () {
      var chosen = select.selectedOptions[0];
      var option = chosen ? optionData.get(chosen) : null;
      if (!option) return;
      confirmFirst(item.confirm).then(function (ok) {
        if (ok) sendAction(ctx, { type: "static_select", action_id: item.action_id, block_id: blockId, selected_option: option }, select);
      });
    });
    return select;
  }

  // state.values as Slack sends it: every checkbox group and select in the message.
  function stateValues(messageNode) {
    var values = {};
    messageNode.querySelectorAll('[data-element="checkboxes"]').forEach(function (group) {
      var block = group.getAttribute("data-block-id");
      values[block] = values[block] || {};
      values[block][group.getAttribute("data-action-id")] = { type: "checkboxes", selected_options: checkedOptions(group) };
    });
    messageNode.querySelectorAll('[data-element="static_select"]').forEach(function (select) {
      var block = select.getAttribute("data-block-id");
      var chosen = select.selectedOptions[0];
      var option = chosen ? optionData.get(chosen) : null;
      values[block] = values[block] || {};
      values[block][select.getAttribute("data-action-id")] = { type: "static_select", selected_option: option || null };
    });
    return values;
  }

  function sendAction(ctx, action, busyNode) {
    if (ctx.home) return sendHomeAction(action, busyNode);
    var messageNode = nodes[ctx.messageId];
    var state = messageNode ? stateValues(messageNode) : {};
    if (busyNode) busyNode.classList.add("busy");
    return postJson("/api/action", { message_id: ctx.messageId, action: action, state: state })
      .then(function (result) {
        if (!result.ok) console.warn("action not accepted", result);
      })
      .finally(function () {
        if (busyNode) busyNode.classList.remove("busy");
      });
  }

  // ----- App Home tab --------------------------------------------------------------------------

  function openHome() {
    var tab = $("home-tab");
    tab.hidden = false;
    tab.setAttribute("data-state", "loading");
    $("home-status").textContent = "opening…";
    return postJson("/api/home", {}).then(function (result) {
      var body = $("home-blocks");
      body.textContent = "";
      if (!result.ok || !result.view) {
        $("home-status").textContent = "not published: " + (result.error || "no view yet");
        tab.setAttribute("data-state", "error");
        return;
      }
      body.appendChild(renderBlocks(result.view.blocks || [], { home: true }));
      $("home-status").textContent = result.published ? "published just now" : "unchanged";
      tab.setAttribute("data-published", result.published ? "true" : "false");
      tab.setAttribute("data-state", "shown");
    });
  }

  function sendHomeAction(action, busyNode) {
    if (busyNode) busyNode.classList.add("busy");
    return postJson("/api/home-action", { action: action })
      .then(function (result) {
        if (!result.ok) console.warn("home action not accepted", result);
      })
      .finally(function () {
        if (busyNode) busyNode.classList.remove("busy");
      });
  }

  // ----- confirm dialog ------------------------------------------------------------------------

  function confirmFirst(confirm) {
    if (!confirm) return Promise.resolve(true);
    var dialog = $("confirm-dialog");
    $("confirm-title").textContent = plainText(confirm.title) || "Are you sure?";
    var text = $("confirm-text");
    text.textContent = "";
    text.appendChild(textObject(confirm.text));
    var ok = $("confirm-ok");
    ok.textContent = plainText(confirm.confirm) || "Yes";
    ok.className = "btn " + (confirm.style === "danger" ? "btn-danger" : "btn-primary");
    $("confirm-deny").textContent = plainText(confirm.deny) || "Cancel";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function onClose() {
        dialog.removeEventListener("close", onClose);
        resolve(dialog.returnValue === "confirm");
      });
      dialog.showModal();
    });
  }

  // ----- messages ------------------------------------------------------------------------------

  function clockTime(seconds) {
    if (!isFinite(seconds) || seconds <= 0) return "";
    return new Date(seconds * 1000).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
  }

  function renderAttachments(list, ctx) {
    return el("div", { class: "attachments" }, list.map(function (att) {
      var children = [];
      if (att.pretext) children.push(el("div", { class: "att-pretext" }, [mrkdwn(String(att.pretext))]));
      if (att.title) children.push(el("div", { class: "att-title" }, [att.title_link ? link(String(att.title_link), unescapeEntities(String(att.title))) : document.createTextNode(unescapeEntities(String(att.title)))]));
      if (att.blocks && att.blocks.length) children.push(renderBlocks(att.blocks, ctx));
      else if (att.text || att.fallback) children.push(el("div", { class: "att-text" }, [mrkdwn(String(att.text || att.fallback))]));
      (att.fields || []).forEach(function (f) {
        children.push(el("div", { class: "att-field" }, [el("strong", { text: unescapeEntities(String(f.title || "")) }), el("br"), mrkdwn(String(f.value || ""))]));
      });
      if (att.footer) children.push(el("div", { class: "att-footer" }, [mrkdwn(String(att.footer))]));
      var bar = el("div", { class: "attachment", "data-testid": "attachment" }, children);
      if (/^#?[0-9a-fA-F]{3,6}$/.test(String(att.color || ""))) bar.style.borderLeftColor = att.color.charAt(0) === "#" ? att.color : "#" + att.color;
      else if (att.color === "good") bar.style.borderLeftColor = "#2eb67d";
      else if (att.color === "danger") bar.style.borderLeftColor = "#e01e5a";
      else if (att.color === "warning") bar.style.borderLeftColor = "#ecb22e";
      return bar;
    }));
  }

  // A user message's "…" menu with the app's message shortcut, as Slack shows it on hover.
  function renderMessageMenu(message) {
    var run = el("button", { type: "button", class: "menu-item", "data-testid": "shortcut-zuora-failures", text: "Zuora account failures" });
    var menu = el("div", { class: "message-menu", "data-testid": "message-menu-items", hidden: true }, [run]);
    var open = el("button", { type: "button", class: "linklike message-menu-open", "data-testid": "message-menu", title: "More actions", "aria-label": "More actions", text: "\u22EF" });
    open.addEventListener("click", function () { menu.hidden = !menu.hidden; });
    run.addEventListener("click", function () {
      menu.hidden = true;
      postJson("/api/shortcut", { message_id: message.id });
    });
    return el("span", { class: "message-menu-wrap" }, [open, menu]);
  }

  function renderMessage(message) {
    var ctx = { messageId: message.id };
    var isBot = message.author !== "you";
    var author = message.author === "you" && config ? config.me.name : message.author;
    var node = el("article", {
      class: "message" + (message.ephemeral ? " ephemeral" : "") + (message.author === "you" ? " from-you" : ""),
      "data-testid": "message",
      "data-message-id": message.id,
      "data-ts": message.ts,
      "data-channel": message.channel,
      "data-ephemeral": message.ephemeral ? "true" : "false",
      "data-author": message.author,
      "data-rev": message.rev,
    });
    var avatar = el("div", { class: "avatar" + (isBot ? " avatar-bot" : ""), "aria-hidden": "true", text: author.charAt(0).toUpperCase() });
    var meta = el("div", { class: "meta" }, [
      el("span", { class: "author", "data-testid": "message-author", text: author }),
      isBot && message.author !== "Slackbot" ? el("span", { class: "app-badge", text: "APP" }) : null,
      el("span", { class: "time", title: "ts " + message.ts, text: clockTime(Number(message.at)) }),
      message.edited ? el("span", { class: "edited", "data-testid": "edited", text: "(edited)" }) : null,
    ]);
    var content = el("div", { class: "content" }, [meta]);
    if (message.author === "you" && !message.ephemeral) meta.appendChild(renderMessageMenu(message));
    var blocks = message.blocks || [];
    if (blocks.length) content.appendChild(renderBlocks(blocks, ctx));
    else if (message.text) content.appendChild(el("div", { class: "message-text", "data-testid": "message-text" }, [mrkdwn(message.text)]));
    if (message.attachments && message.attachments.length) content.appendChild(renderAttachments(message.attachments, ctx));
    if (message.ephemeral) {
      var dismiss = el("button", { type: "button", class: "linklike", "data-testid": "dismiss", text: "Dismiss message" });
      dismiss.addEventListener("click", function () { postJson("/api/dismiss", { message_id: message.id }); });
      var who = config && message.visible_to && message.visible_to !== config.me.id ? "Only visible to @" + userName(message.visible_to) : "Only visible to you";
      content.appendChild(el("div", { class: "ephemeral-note", "data-testid": "ephemeral-note" }, [
        who + " · ", dismiss,
      ]));
    }
    var thread = el("div", { class: "thread", "data-testid": "thread" });
    node.appendChild(avatar);
    node.appendChild(content);
    content.appendChild(thread);
    return node;
  }

  function paneFor(channelId) {
    if (!panes[channelId]) {
      var pane = el("section", { class: "pane", "data-testid": "channel-view", "data-channel-id": channelId, hidden: channelId !== activeChannel });
      var empty = el("div", { class: "pane-empty", "data-testid": "pane-empty", text: "Nothing here yet. Type a /zuora command below." });
      pane.appendChild(empty);
      $("message-panes").appendChild(pane);
      panes[channelId] = pane;
    }
    return panes[channelId];
  }

  function layout(channelId) {
    var pane = paneFor(channelId);
    var list = Object.keys(messages).map(function (id) { return messages[id]; })
      .filter(function (m) { return m.channel === channelId && !m.deleted; })
      .sort(function (a, b) { return a.seq - b.seq; });
    var byTs = {};
    list.forEach(function (m) { if (!m.ephemeral) byTs[m.ts] = m; });
    var atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
    list.forEach(function (m) {
      var parent = m.thread_ts && m.thread_ts !== m.ts ? byTs[m.thread_ts] : null;
      var node = nodes[m.id];
      if (parent && nodes[parent.id]) {
        node.classList.add("reply");
        $("thread", nodes[parent.id]).appendChild(node);
      } else {
        if (m.thread_ts && m.thread_ts !== m.ts) node.classList.add("reply-orphan");
        pane.appendChild(node);
      }
    });
    $("pane-empty", pane).hidden = list.length > 0;
    if (atBottom) pane.scrollTop = pane.scrollHeight;
  }

  function applyState(state) {
    (state.channels || []).forEach(function (c) {
      if (!channels[c.id]) {
        channels[c.id] = c;
        addChannelLink(c);
      }
    });
    if (state.full) {
      Object.keys(nodes).forEach(function (id) { nodes[id].remove(); });
      messages = {};
      nodes = {};
    }
    var touched = {};
    (state.messages || []).forEach(function (m) {
      var old = messages[m.id];
      if (old && old.rev === m.rev) return;
      if (!old && !m.deleted && m.channel !== activeChannel && !state.full) {
        unread[m.channel] = (unread[m.channel] || 0) + 1;
      }
      messages[m.id] = m;
      touched[m.channel] = true;
      var previous = nodes[m.id];
      if (m.deleted) {
        if (previous) previous.remove();
        delete nodes[m.id];
        return;
      }
      var fresh = renderMessage(m);
      if (previous) {
        // Keep replies that hang off this message's thread.
        var oldThread = $("thread", previous);
        var newThread = $("thread", fresh);
        while (oldThread && oldThread.firstChild) newThread.appendChild(oldThread.firstChild);
        previous.replaceWith(fresh);
      }
      nodes[m.id] = fresh;
    });
    Object.keys(touched).forEach(layout);
    version = state.version;
    document.body.setAttribute("data-state-version", String(version));
    renderUnread();
  }

  // ----- channels, composer, polling -----------------------------------------------------------

  function addChannelLink(channel) {
    var item = el("li", {}, [
      el("button", { type: "button", class: "channel-link", "data-testid": "channel-link", "data-channel-id": channel.id, "data-channel-name": channel.name }, [
        el("span", { class: "hash", text: "# " }), channel.name,
        el("span", { class: "badge", "data-testid": "unread", hidden: true }),
      ]),
    ]);
    item.firstChild.addEventListener("click", function () { selectChannel(channel.id); });
    $("channel-list").appendChild(item);
    paneFor(channel.id);
  }

  function selectChannel(id) {
    activeChannel = id;
    unread[id] = 0;
    Object.keys(panes).forEach(function (cid) { panes[cid].hidden = cid !== id; });
    document.querySelectorAll('[data-testid="channel-link"]').forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-channel-id") === id);
      if (b.getAttribute("data-channel-id") === id) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    });
    $("channel-title").textContent = channelName(id);
    $("composer-input").placeholder = "Message #" + channelName(id) + " — try /zuora help";
    document.body.setAttribute("data-active-channel", id);
    layout(id);
    renderUnread();
  }

  function renderUnread() {
    document.querySelectorAll('[data-testid="channel-link"]').forEach(function (b) {
      var count = unread[b.getAttribute("data-channel-id")] || 0;
      var badge = $("unread", b);
      badge.hidden = count === 0;
      badge.textContent = String(count);
    });
  }

  function sendLine(text) {
    var input = $("composer-input");
    var send = $("composer-send");
    send.disabled = true;
    return postJson("/api/command", { channel: activeChannel, text: text })
      .then(function (result) {
        if (!result.ok) console.warn("command not accepted", result);
        return result;
      })
      .finally(function () {
        send.disabled = false;
        input.focus();
      });
  }

  function poll() {
    fetch("/api/state?since=" + version + "&wait=" + POLL_WAIT_SECONDS, { cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("http " + response.status);
        return response.json();
      })
      .then(function (state) {
        setConnection("live");
        applyState(state);
        poll();
      })
      .catch(function () {
        setConnection("offline");
        setTimeout(poll, RETRY_DELAY_MS);
      });
  }

  function setConnection(state) {
    var node = $("connection");
    node.setAttribute("data-state", state);
    node.textContent = state === "live" ? "live" : state === "offline" ? "reconnecting…" : "connecting…";
  }

  function start(cfg) {
    config = cfg;
    document.title = "Zuora Ops playground";
    $("title").textContent = cfg.title;
    var hints = $("hints");
    cfg.hints.forEach(function (hint) { hints.appendChild(el("li", { "data-testid": "hint", text: hint })); });
    var suggestions = $("suggestions");
    cfg.suggestions.forEach(function (line) {
      var chip = el("button", { type: "button", class: "chip", "data-testid": "suggestion", text: line });
      chip.addEventListener("click", function () {
        var input = $("composer-input");
        input.value = line;
        input.focus();
      });
      suggestions.appendChild(chip);
    });
    $("run-digests").hidden = !cfg.can_run_digests;
    $("run-digests").addEventListener("click", function () { postJson("/api/digests", { channel: activeChannel }); });
    $("digest-preview").addEventListener("click", function () { sendLine("/zuora digest preview"); });
    $("open-home").addEventListener("click", openHome);
    $("close-home").addEventListener("click", function () { $("home-tab").hidden = true; });
    $("composer").addEventListener("submit", function (event) {
      event.preventDefault();
      var input = $("composer-input");
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      sendLine(text);
    });
    document.addEventListener("click", function (event) {
      // Close open overflow menus when clicking elsewhere.
      document.querySelectorAll('[data-testid="overflow-menu"]').forEach(function (menu) {
        if (!menu.parentNode.contains(event.target)) menu.hidden = true;
      });
    });
    activeChannel = cfg.default_channel;
    fetch("/api/state?since=0", { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (state) {
        applyState(state);
        selectChannel(activeChannel);
        document.body.setAttribute("data-ready", "true");
        setConnection("live");
        poll();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fetch("/api/config", { cache: "no-store" }).then(function (r) { return r.json(); }).then(start);
  });

  // Exposed for the browser tests' renderer fixtures only; the page does not use it.
  window.playgroundRender = { mrkdwn: mrkdwn, renderMessage: renderMessage };
})();
