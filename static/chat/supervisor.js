// The supervisor page (issue 13): the pair's open chats, and one panel per chat
// monitored. A monitored chat is followed silently; what the supervisor writes
// is coaching (visibility "internal": agents and supervisors only) unless it
// barged in and ticks "To everyone". The same failover as the other pages
// (connection.js): on a new socket every monitored chat is asked for again
// after the last event shown.
import { Connection, newClientId, serverText, stateText } from "./connection.js";
import { Desk } from "./desk.js";
import { closeReasonText, flash } from "./transcript.js";

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

// state: {chats: {session_id: {customer, agent, subject, participant_id, joined, events, ended}}}
const desk = new Desk({
  key: KEY, initial: { chats: {} }, template: ui.template, container: ui.chats, onShown: shown, onEnded: ended,
});
const { state, panels } = desk;
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
desk.conn = conn;

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
      if ("seq" in frame) desk.push(frame);
  }
}

function error(frame) {
  // A chat that ended while this page was away (or that the new primary did not restore).
  const chat = frame.code === "session-closed" && state.chats[frame.session_id];
  if (chat && !chat.ended) {
    desk.finish(frame.session_id, "This chat is no longer open.");
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
  desk.save();
  const entry = panels.get(frame.session_id) ?? addPanel(frame.session_id);
  desk.setEnded(frame.session_id, null);
  entry.nodes.input.focus();
  drawList(lastList);
}

function addPanel(id) {
  const nodes = {
    transcript: ".transcript",
    outbox: ".outbox",
    form: "form.reply",
    input: "form.reply input[name=text]",
    everyone: "form.reply input[name=everyone]",
    ended: ".ended",
    bargeIn: ".barge-in",
    leave: ".leave-chat",
    unmonitor: ".unmonitor",
    dismiss: ".dismiss",
  };
  const entry = desk.addPanel(id, nodes, ({ nodes }, chat) => {
    nodes.form.addEventListener("submit", (submit) => {
      submit.preventDefault();
      const text = nodes.input.value;
      if (!text.trim() || chat.ended) return;
      const visibility = chat.joined && nodes.everyone.checked ? "all" : "internal";
      conn.sendReliably({ type: "message", session_id: id, text, client_id: newClientId(), visibility });
      desk.drawOutbox(id);
      nodes.input.value = "";
      nodes.input.focus();
    });
    nodes.bargeIn.addEventListener("click", () => command({ type: "barge-in", session_id: id }));
    nodes.leave.addEventListener("click", () => command({ type: "leave", session_id: id }));
    nodes.unmonitor.addEventListener("click", () => command({ type: "unmonitor", session_id: id }));
    nodes.dismiss.addEventListener("click", () => drop(id));
  });
  drawHead(id);
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
  desk.dropPending(id);
  desk.forget(id);
  drawList(lastList);
}

function command(frame) {
  if (!conn.send(frame)) error({ code: "offline", message: "Not connected: try again in a moment." });
}

/** The supervisor page's answer to an event shown in a panel (Desk.show). */
function shown(id, event, chat) {
  if (event.type === "joined" && event.role === "agent") chat.agent = { id: event.from, nickname: event.nickname };
  if (event.from === chat.participant_id && (event.type === "joined" || event.type === "left")) {
    chat.joined = event.type === "joined";
    drawHead(id);
  }
  if (event.type === "closed") desk.finish(id, `Chat closed: ${closeReasonText(event.reason)}.`);
}

/** The supervisor page's own controls of a chat that ended, or came back (Desk.setEnded). */
function ended(id, isEnded, { nodes }) {
  nodes.unmonitor.hidden = isEnded;
  drawHead(id);
}

ui.chats.addEventListener("change", (change) => {
  const panel = change.target.closest("[data-session]");
  if (panel && change.target.name === "everyone") drawHead(panel.dataset.session);
});

desk.clearOnLogout(document.querySelector("form.logout"));
desk.restore(addPanel);
conn.start();
