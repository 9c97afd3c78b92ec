// The agent desktop: availability, one panel per assigned chat, and the same
// failover as the customer page (connection.js) with every chat resumed.
import { Connection, newClientId, serverText, stateText } from "./connection.js";
import { Desk } from "./desk.js";
import { TypingLine, TypingSender, closeReasonText, flash } from "./transcript.js";

// Per user: another agent logging in on this tab does not inherit the chats.
const KEY = `chat.agent.${document.body.dataset.user}`;
const $ = (selector) => document.querySelector(selector);

const ui = {
  status: $("#status"),
  server: $("#server"),
  epoch: $("#epoch"),
  available: $("#available"),
  chats: $("#chats"),
  noChats: $("#no-chats"),
  error: $("#error"),
  template: $("#chat-panel"),
};

// state: {available, chats: {session_id: {customer, subject, participant_id, events, ended}}};
// a panel's entry has the page's typing and typingSender besides Desk's own.
const desk = new Desk({
  key: KEY, initial: { available: false, chats: {} }, template: ui.template, container: ui.chats,
  onShown: shown, onEnded: ended,
});
const { state, panels } = desk;

const conn = new Connection({
  path: "/ws/agent/",
  key: KEY,
  hello() {
    const frames = [];
    const sessions = {};
    for (const [id, chat] of Object.entries(state.chats)) {
      if (!chat.ended) sessions[id] = panels.get(id).sequencer.last;
    }
    if (Object.keys(sessions).length) frames.push({ type: "resume", sessions });
    // A new primary knows nothing of this agent's availability: say it again.
    if (state.available) frames.push({ type: "ready", available: true });
    return frames;
  },
  onFrame: receive,
  onState(connState, detail) {
    ui.status.dataset.state = connState;
    ui.status.textContent = stateText(connState, detail);
    if (connState === "open") ui.server.textContent = serverText({ url: detail.url });
    if (connState === "waiting" && detail.round >= 2 && !detail.notPrimary) checkLoggedIn();
  },
  onServer(server) {
    ui.server.textContent = serverText(server);
    if (server.epoch !== null) ui.epoch.textContent = String(server.epoch);
  },
});
desk.conn = conn;

// A refused websocket looks the same in a browser whether the server is down
// or the login expired (403): ask the page itself, which redirects when logged out.
let checkingLogin = false;
async function checkLoggedIn() {
  if (checkingLogin) return;
  checkingLogin = true;
  try {
    const response = await fetch(location.pathname, { redirect: "manual", cache: "no-store" });
    if (response.type === "opaqueredirect") location.assign(`/accounts/login/?next=${encodeURIComponent(location.pathname)}`);
  } catch {
    /* the server is down: keep retrying the socket */
  } finally {
    checkingLogin = false;
  }
}

function receive(frame) {
  switch (frame.type) {
    case "assigned":
      assigned(frame);
      break;
    case "resumed":
      if (frame.epoch !== undefined) ui.epoch.textContent = String(frame.epoch);
      break;
    case "typing": {
      const entry = panels.get(frame.session_id);
      const chat = state.chats[frame.session_id];
      if (entry && frame.from !== chat.participant_id) entry.typing.set(chat.customer.nickname, frame.state);
      break;
    }
    case "agents":
      listAgents(frame.agents ?? []);
      break;
    case "error":
      error(frame);
      break;
    default:
      if ("seq" in frame) desk.push(frame);
  }
}

function error(frame) {
  // A chat the new primary does not give back (closed meanwhile, or not restored).
  const chat = frame.code === "not-yours" && state.chats[frame.session_id];
  if (chat && !chat.ended) {
    desk.finish(frame.session_id, "This chat is no longer yours.");
    return;
  }
  flash(ui.error, frame.message);
}

function assigned(frame) {
  let chat = state.chats[frame.session_id];
  if (!chat) {
    chat = {
      customer: frame.customer, subject: frame.subject ?? "", participant_id: frame.participant_id,
      events: [], ended: false,
    };
    state.chats[frame.session_id] = chat;
  } else {
    chat.ended = false;
  }
  desk.save();
  const entry = panels.get(frame.session_id) ?? addPanel(frame.session_id);
  desk.setEnded(frame.session_id, null);
  entry.nodes.input.focus();
}

function addPanel(id) {
  const nodes = {
    transcript: ".transcript",
    outbox: ".outbox",
    form: "form.reply",
    input: "form.reply input[name=text]",
    internal: "form.reply input[name=internal]",
    ended: ".ended",
    close: ".close-chat",
    leave: ".leave-chat",
    dismiss: ".dismiss",
    transfer: ".transfer-chat",
    transferForm: "form.transfer",
  };
  const entry = desk.addPanel(id, nodes, (entry, chat) => {
    const { panel, nodes } = entry;
    panel.querySelector(".customer").textContent = chat.customer?.nickname ?? "Customer";
    panel.querySelector(".subject").textContent = chat.subject || "No subject";
    entry.typing = new TypingLine(panel.querySelector(".typing"));
    entry.typingSender = new TypingSender((typingState) => conn.send({ type: "typing", session_id: id, state: typingState }));

    // A staff-only answer (issue 13) does not tell the customer someone is typing.
    nodes.input.addEventListener("input", () => { if (!nodes.internal?.checked) entry.typingSender.input(); });
    nodes.form.addEventListener("submit", (submit) => {
      submit.preventDefault();
      const text = nodes.input.value;
      if (!text.trim() || chat.ended) return;
      entry.typingSender.stop();
      const frame = { type: "message", session_id: id, text, client_id: newClientId() };
      // "Staff only": an answer to a supervisor's coaching, never shown to the customer (issue 13).
      if (nodes.internal?.checked) frame.visibility = "internal";
      conn.sendReliably(frame);
      desk.drawOutbox(id);
      nodes.input.value = "";
      nodes.input.focus();
    });
    nodes.close.addEventListener("click", () => command({ type: "close", session_id: id }));
    nodes.leave.addEventListener("click", () => command({ type: "leave", session_id: id }));
    nodes.transfer.addEventListener("click", () => {
      nodes.transferForm.hidden = !nodes.transferForm.hidden;
      if (!nodes.transferForm.hidden) command({ type: "agents" });
      watchTargets();
    });
    nodes.transferForm.querySelector(".cancel-transfer").addEventListener("click", () => {
      nodes.transferForm.hidden = true;
      watchTargets();
    });
    nodes.transferForm.addEventListener("submit", (submit) => {
      submit.preventDefault();
      if (chat.ended) return;
      const form = nodes.transferForm;
      const to = form.elements.to.value;
      const note = form.elements.note.value.trim() || undefined;
      // "Back to the queue" is the agent's leave, with the note for whoever takes the chat next.
      command(to ? { type: "transfer", session_id: id, to, note } : { type: "leave", session_id: id, note });
      form.hidden = true; // the note stays until the chat is handed on: a refused transfer can be sent again
      watchTargets();
    });
    nodes.dismiss.addEventListener("click", () => {
      desk.forget(id);
      ui.noChats.hidden = panels.size > 0;
    });
  });
  ui.noChats.hidden = true;
  return entry;
}

function command(frame) {
  if (!conn.send(frame)) error({ code: "offline", message: "Not connected: try again in a moment." });
}

/** The agent desktop's answer to an event shown in a panel (Desk.show). */
function shown(id, event, chat, entry) {
  if (event.type === "message" && event.from !== chat.participant_id) entry.typing.set("", false);
  if (event.type === "closed") {
    desk.finish(id, `Chat closed: ${closeReasonText(event.reason)}.`);
  } else if (event.type === "left" && event.from === chat.participant_id) {
    desk.finish(id, "You left this chat; it went back to the queue.");
  } else if (event.type === "transferred" && event.from === chat.participant_id) {
    desk.finish(id, `You transferred this chat to ${event.to?.nickname ?? "another agent"}.`);
  } else if (chat.ended && ((event.type === "joined" && event.from === chat.participant_id)
    || (event.type === "transferred" && event.to?.id === chat.participant_id))) {
    // The chat came back to this agent later on (replayed from seq 1 after a Dismiss).
    chat.ended = false;
    desk.setEnded(id, null);
  }
}

// While a transfer form is open its list is asked for again this often: agents come,
// go and fill up meanwhile (the server refuses a target that cannot take the chat).
const TARGETS_REFRESH_MS = 3000;
let targetsTimer = null;

function watchTargets() {
  const open = [...panels.values()].some(({ nodes }) => !nodes.transferForm.hidden);
  if (open && targetsTimer === null) {
    targetsTimer = setInterval(() => conn.send({ type: "agents" }), TARGETS_REFRESH_MS);
  } else if (!open && targetsTimer !== null) {
    clearInterval(targetsTimer);
    targetsTimer = null;
  }
}

/** Fill every open transfer form's list with the agents who can take a chat now. */
function listAgents(agents) {
  for (const { nodes } of panels.values()) {
    if (nodes.transferForm.hidden) continue;
    const select = nodes.transferForm.elements.to;
    const chosen = select.value;
    const options = agents.map((agent) => {
      const option = document.createElement("option");
      option.value = agent.id;
      option.textContent = `${agent.nickname} (${agent.chats} chat${agent.chats === 1 ? "" : "s"})`;
      return option;
    });
    select.replaceChildren(select.options[0], ...options);
    select.value = agents.some((agent) => agent.id === chosen) ? chosen : "";
  }
}

/** The agent desktop's own controls of a chat that ended, or came back (Desk.setEnded). */
function ended(id, isEnded, { nodes, typing }) {
  nodes.close.hidden = isEnded;
  nodes.leave.hidden = isEnded;
  nodes.transfer.hidden = isEnded;
  if (isEnded) {
    nodes.transferForm.hidden = true;
    nodes.transferForm.elements.note.value = "";
    watchTargets();
    typing.set("", false);
  }
}

desk.clearOnLogout(document.querySelector("form.logout"));

ui.available.checked = state.available;
ui.available.addEventListener("change", () => {
  state.available = ui.available.checked;
  desk.save();
  conn.send({ type: "ready", available: state.available });
});

desk.restore(addPanel);
ui.noChats.hidden = panels.size > 0;
conn.start();
