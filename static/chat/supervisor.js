// The supervisor page (issue 13): the pair's open chats, and one panel per chat
// monitored. A monitored chat is followed silently; what the supervisor writes
// is coaching (visibility "internal": agents and supervisors only) unless it
// barged in and ticks "To everyone". The same failover as the other pages
// (connection.js): on a new socket every monitored chat is asked for again
// after the last event shown.
import { Connection, newClientId, serverText, stateText, store } from "./connection.js";
import {
  KEPT_EVENTS, Sequencer, appendScrolled, closeReasonText, eventItem, pendingItem, scrollDown, flash,
} from "./transcript.js";

// Per user: another supervisor logging in on this tab does not inherit the chats.
const KEY = `chat.supervisor.${document.body.dataset.user}`;
const $ = (selector) => document.querySelector(selector);

const ui = {
  status: $("#status"),
  server: $("#server"),
  epoch: $("#epoch"),
  openCount: $("#open-count"),
  noOpen: $("#no-open"),
  table: $("#open-chats"),
  rows: $("#open-chats tbody"),
  chats: $("#chats"),
  error: $("#error"),
  template: $("#monitor-panel"),
};

// {chats: {session_id: {customer, agent, subject, participant_id, joined, events, ended}}}
const state = store.load(KEY, { chats: {} });
// session_id -> {panel, sequencer, nodes}
const panels = new Map();
let lastList = [];

const conn = new Connection({
  path: "/ws/supervisor/",
  key: KEY,
  hello() {
    const frames = [];
    for (const [id, chat] of Object.entries(state.chats)) {
      if (!chat.ended) frames.push({ type: "monitor", session_id: id, last_seq: panels.get(id).sequencer.last });
    }
    return frames;
  },
  onFrame: receive,
  onState(connState, detail) {
    ui.status.dataset.state = connState;
    ui.status.textContent = stateText(connState, detail);
    if (connState === "open") ui.server.textContent = serverText({ url: detail.url });
  },
  onServer(server) {
    ui.server.textContent = serverText(server);
    if (server.epoch !== null) ui.epoch.textContent = String(server.epoch);
  },
});

function save() {
  store.save(KEY, state);
}

function receive(frame) {
  switch (frame.type) {
    case "chats":
      lastList = frame.chats;
      drawList(frame.chats, frame.open);
      break;
    case "monitoring":
      monitoring(frame);
      break;
    case "unmonitored":
      drop(frame.session_id);
      break;
    case "error":
      error(frame);
      break;
    default:
      if ("seq" in frame && panels.has(frame.session_id)) panels.get(frame.session_id).sequencer.push(frame);
  }
}

function error(frame) {
  // A chat that ended while this page was away (or that the new primary did not restore).
  const chat = frame.code === "session-closed" && state.chats[frame.session_id];
  if (chat && !chat.ended) {
    finish(frame.session_id, "This chat is no longer open.");
    return;
  }
  flash(ui.error, frame.message);
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function drawList(chats, open) {
  ui.openCount.textContent = String(open ?? chats.length);
  ui.noOpen.hidden = chats.length > 0;
  ui.table.hidden = chats.length === 0;
  ui.rows.replaceChildren(...chats.map((row) => {
    const tr = document.createElement("tr");
    tr.dataset.session = row.session_id;
    tr.classList.toggle("monitored", panels.has(row.session_id) && !state.chats[row.session_id].ended);
    tr.append(
      cell(row.customer), cell(row.subject || "–"), cell(row.agent ?? "waiting"), cell(row.status),
      cell(row.supervisors.join(", ") || "–"), cell(String(row.last_seq)),
    );
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "monitor quiet";
    button.textContent = tr.classList.contains("monitored") ? "Monitoring" : "Monitor";
    button.disabled = tr.classList.contains("monitored");
    button.addEventListener("click", () => command({ type: "monitor", session_id: row.session_id, last_seq: 0 }));
    td.append(button);
    tr.append(td);
    return tr;
  }));
}

function monitoring(frame) {
  let chat = state.chats[frame.session_id];
  if (!chat) {
    chat = { events: [], ended: false };
    state.chats[frame.session_id] = chat;
  }
  Object.assign(chat, {
    customer: frame.customer, agent: frame.agent, subject: frame.subject ?? "",
    participant_id: frame.participant_id, joined: frame.joined, ended: false,
  });
  save();
  const entry = panels.get(frame.session_id) ?? addPanel(frame.session_id);
  drawHead(frame.session_id);
  setEnded(frame.session_id, null);
  entry.nodes.input.focus();
  drawList(lastList);
}

function addPanel(id) {
  const chat = state.chats[id];
  const panel = ui.template.content.firstElementChild.cloneNode(true);
  panel.dataset.session = id;
  const nodes = {
    transcript: panel.querySelector(".transcript"),
    outbox: panel.querySelector(".outbox"),
    form: panel.querySelector("form.reply"),
    input: panel.querySelector("form.reply input[name=text]"),
    everyone: panel.querySelector("form.reply input[name=everyone]"),
    ended: panel.querySelector(".ended"),
    bargeIn: panel.querySelector(".barge-in"),
    leave: panel.querySelector(".leave-chat"),
    unmonitor: panel.querySelector(".unmonitor"),
    dismiss: panel.querySelector(".dismiss"),
  };
  const lastSeq = chat.events.length ? chat.events[chat.events.length - 1].seq : 0;
  const entry = {
    panel,
    nodes,
    sequencer: new Sequencer(lastSeq, (event) => show(id, event), () => conn.reconnectNow()),
  };
  panels.set(id, entry);
  for (const event of chat.events) nodes.transcript.append(eventItem(event, chat.participant_id));

  nodes.form.addEventListener("submit", (submit) => {
    submit.preventDefault();
    const text = nodes.input.value;
    if (!text.trim() || chat.ended) return;
    const visibility = chat.joined && nodes.everyone.checked ? "all" : "internal";
    conn.sendReliably({ type: "message", session_id: id, text, client_id: newClientId(), visibility });
    drawOutbox(id);
    nodes.input.value = "";
    nodes.input.focus();
  });
  nodes.bargeIn.addEventListener("click", () => command({ type: "barge-in", session_id: id }));
  nodes.leave.addEventListener("click", () => command({ type: "leave", session_id: id }));
  nodes.unmonitor.addEventListener("click", () => command({ type: "unmonitor", session_id: id }));
  nodes.dismiss.addEventListener("click", () => drop(id));
  ui.chats.append(panel);
  drawHead(id);
  drawOutbox(id);
  const scroller = panel.querySelector(".scroll");
  scroller.scrollTop = scroller.scrollHeight;
  return entry;
}

function drawHead(id) {
  const chat = state.chats[id];
  const { panel, nodes } = panels.get(id);
  panel.querySelector(".customer").textContent = chat.customer?.nickname ?? "Customer";
  panel.querySelector(".subject").textContent = chat.subject || "No subject";
  panel.querySelector(".agent-line").textContent = chat.agent ? `Agent: ${chat.agent.nickname}` : "Waiting for an agent";
  nodes.bargeIn.hidden = Boolean(chat.joined || chat.ended);
  nodes.leave.hidden = !chat.joined || Boolean(chat.ended);
  nodes.everyone.disabled = !chat.joined;
  if (!chat.joined) nodes.everyone.checked = false;
  nodes.input.placeholder = chat.joined && nodes.everyone.checked
    ? "Write to everyone in the chat"
    : "Coach the agent (the customer does not see it)";
}

function drop(id) {
  const entry = panels.get(id);
  if (entry) entry.panel.remove();
  for (const frame of conn.pending()) if (frame.session_id === id) conn.ack(frame.client_id);
  panels.delete(id);
  delete state.chats[id];
  save();
  drawList(lastList);
}

function command(frame) {
  if (!conn.send(frame)) error({ code: "offline", message: "Not connected: try again in a moment." });
}

function show(id, event) {
  const chat = state.chats[id];
  const entry = panels.get(id);
  appendScrolled(entry.nodes.transcript, eventItem(event, chat.participant_id), event.from === chat.participant_id);
  chat.events.push(event);
  if (chat.events.length > KEPT_EVENTS) chat.events.splice(0, chat.events.length - KEPT_EVENTS);
  if (event.type === "message") {
    conn.ack(event.client_id);
    drawOutbox(id);
  }
  if (event.type === "joined" && event.role === "agent") chat.agent = { id: event.from, nickname: event.nickname };
  if (event.from === chat.participant_id && (event.type === "joined" || event.type === "left")) {
    chat.joined = event.type === "joined";
    drawHead(id);
  }
  if (event.type === "closed") finish(id, `Chat closed: ${closeReasonText(event.reason)}.`);
  save();
}

function drawOutbox(id) {
  const pending = conn.pending().filter((frame) => frame.session_id === id);
  const { outbox } = panels.get(id).nodes;
  outbox.replaceChildren(...pending.map(pendingItem));
  if (pending.length) scrollDown(outbox);
}

function finish(id, text) {
  state.chats[id].ended = text;
  for (const frame of conn.pending()) if (frame.session_id === id) conn.ack(frame.client_id);
  drawOutbox(id);
  save();
  setEnded(id, text);
}

function setEnded(id, text) {
  const { nodes, panel } = panels.get(id);
  const ended = Boolean(text);
  nodes.form.hidden = ended;
  nodes.unmonitor.hidden = ended;
  nodes.dismiss.hidden = !ended;
  nodes.ended.hidden = !ended;
  nodes.ended.textContent = text ?? "";
  panel.classList.toggle("is-ended", ended);
  drawHead(id);
}

ui.chats.addEventListener("change", (change) => {
  const panel = change.target.closest("[data-session]");
  if (panel && change.target.name === "everyone") drawHead(panel.dataset.session);
});

document.querySelector("form.logout").addEventListener("submit", () => {
  conn.stop();
  for (const suffix of ["", ".outbox", ".servers"]) store.drop(KEY + suffix);
});

for (const [id, chat] of Object.entries(state.chats)) {
  addPanel(id);
  setEnded(id, chat.ended || null);
}
conn.start();
