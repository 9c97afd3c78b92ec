// What both pages show of a session: its events, each seq once and in order,
// and the other side's typing notice. Every text goes in with textContent.

// A later seq waits this long for the ones before it; then the page resumes
// on a fresh socket, which sends every event after the last one shown.
const GAP_WAIT_MS = 1500;
// A typing notice whose "stopped" frame got lost does not stay forever.
const TYPING_SHOWN_MS = 6000;
// What a page keeps of a transcript in sessionStorage to redraw it on reload.
export const KEPT_EVENTS = 500;

/** Hands events to `show` in seq order, each once, starting after `lastSeq`. */
export class Sequencer {
  constructor(lastSeq, show, onGap) {
    this.last = lastSeq;
    this.show = show;
    this.onGap = onGap;
    this.waiting = new Map();
    this.timer = null;
  }

  push(event) {
    if (!Number.isInteger(event.seq) || event.seq <= this.last || this.waiting.has(event.seq)) return;
    this.waiting.set(event.seq, event);
    while (this.waiting.has(this.last + 1)) {
      const next = this.waiting.get(this.last + 1);
      this.waiting.delete(this.last + 1);
      this.last += 1;
      this.show(next);
    }
    if (this.waiting.size === 0) {
      clearTimeout(this.timer);
      this.timer = null;
    } else if (this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (this.waiting.size) this.onGap();
      }, GAP_WAIT_MS);
    }
  }
}

const CLOSE_REASONS = {
  "customer-left": "the customer left",
  "agent-closed": "the agent closed it",
  "transcript-save-error": "the transcript could not be saved",
  "not-restored": "it could not be restored after a server failure",
  inactivity: "nobody wrote for too long",
  "queue-timeout": "nobody answered in time",
};

/** An estimated wait (`estimated_wait_s`: whole multiples of 30 s, 7200 meaning two
 * hours or more; docs/protocol.md, "The wait estimate") in words; "" without one. */
export function waitWords(seconds) {
  if (!Number.isInteger(seconds) || seconds < 0) return "";
  if (seconds < 60) return "less than a minute";
  if (seconds >= 7200) return "two hours or more";
  const minutes = Math.round(seconds / 60);
  return `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

/** Show ``text`` in ``element`` for a few seconds (an error the server sent). */
export function flash(element, text, ms = 6000) {
  element.textContent = text;
  element.hidden = false;
  setTimeout(() => { element.hidden = true; }, ms);
}

export function closeReasonText(reason) {
  return CLOSE_REASONS[reason] ?? reason ?? "unknown reason";
}

function noticeText(event) {
  switch (event.notice) {
    case "queued":
      return `Waiting for an agent: number ${event.position} in the queue`;
    case "ucs-save":
      return "Transcript saved";
    case "ucs-save-fail":
      return "The transcript could not be saved";
    case "switchover":
      return "The chat moved to the other server";
    case "transfer-note":
      // For the next agent: internal, never shown to the customer (customer.js).
      return `Note from ${event.nickname ?? "the agent"}: ${event.text}`;
    case "inactivity-alert":
    case "inactivity-close":
      // The texts the options set (inactivity-message-alert / -close).
      return typeof event.text === "string" ? event.text : "This chat has been quiet for a while";
    default:
      return `Notice: ${event.notice}`;
  }
}

export function eventText(event, me) {
  const who = event.from === me ? "You" : (event.nickname ?? "Someone");
  switch (event.type) {
    case "joined":
      // A supervisor who barges in says so (issue 13).
      return event.role === "supervisor" && event.from !== me
        ? `${who} (supervisor) joined the chat` : `${who} joined the chat`;
    case "left":
      return `${who} left the chat`;
    case "disconnected":
      return `${who} disconnected`;
    case "reconnected":
      return `${who} reconnected`;
    case "notice":
      return noticeText(event);
    case "closed":
      return `Chat closed: ${closeReasonText(event.reason)}`;
    case "transferred":
      return `${who} transferred the chat to ${event.to?.id === me ? "you" : (event.to?.nickname ?? "another agent")}`;
    default:
      return event.type;
  }
}

function clock(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One transcript line; `me` is this page's participant id. */
export function eventItem(event, me) {
  const item = el("li", `event event-${event.type}`);
  item.dataset.seq = String(event.seq);
  item.dataset.type = event.type;
  if (event.from) item.dataset.from = event.from;
  if (event.notice) item.dataset.notice = event.notice;
  if (event.reason) item.dataset.reason = event.reason;
  // An internal event (issue 13: coaching) reaches agents and supervisors only; say so.
  const internal = event.visibility === "internal";
  if (internal) {
    item.dataset.visibility = "internal";
    item.classList.add("internal");
  }
  if (event.type === "message") {
    item.dataset.clientId = event.client_id ?? "";
    item.classList.add(event.from === me ? "mine" : "theirs", event.role ?? "");
    const who = el("span", "who", event.from === me ? "You" : (event.nickname ?? "?"));
    if (event.role === "supervisor" && event.from !== me) who.append(" (supervisor)");
    if (internal) who.append(el("span", "badge", "staff only"));
    item.append(who);
    item.append(el("span", "text", event.text));
  } else {
    item.append(el("span", "text", eventText(event, me)));
  }
  const time = el("time", "at", clock(event.at));
  time.dateTime = event.at ?? "";
  item.append(time);
  return item;
}

/** A message sent but not yet back from the server. */
export function pendingItem(frame) {
  const item = el("li", "event event-message mine pending");
  item.dataset.clientId = frame.client_id;
  item.append(el("span", "who", "You"));
  item.append(el("span", "text", frame.text));
  item.append(el("span", "at", "sending…"));
  return item;
}

/** Append a line; follow it down if the reader was at the bottom or it is the reader's own. */
export function appendScrolled(list, item, follow = false) {
  const scroller = list.closest(".scroll") ?? list;
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  list.append(item);
  if (atBottom || follow) scrollDown(list);
}

export function scrollDown(list) {
  const scroller = list.closest(".scroll") ?? list;
  scroller.scrollTop = scroller.scrollHeight;
}

/** "Alice is typing…", hidden again on state false or after a while. */
export class TypingLine {
  constructor(node) {
    this.node = node;
    this.timer = null;
  }

  set(nickname, state) {
    clearTimeout(this.timer);
    if (state) {
      this.node.textContent = `${nickname} is typing…`;
      this.node.hidden = false;
      this.timer = setTimeout(() => this.set(nickname, false), TYPING_SHOWN_MS);
    } else {
      this.node.hidden = true;
      this.node.textContent = "";
    }
  }
}

// Typing notices out: "true" once per few seconds while keys are pressed,
// "false" after a pause or on send.
const TYPING_REPEAT_MS = 3000;
const TYPING_IDLE_MS = 2000;

export class TypingSender {
  constructor(send) {
    this.send = send;
    this.sentAt = 0;
    this.idle = null;
  }

  input() {
    const now = Date.now();
    if (now - this.sentAt > TYPING_REPEAT_MS) {
      this.sentAt = now;
      this.send(true);
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  stop() {
    clearTimeout(this.idle);
    if (this.sentAt) {
      this.sentAt = 0;
      this.send(false);
    }
  }
}
