// The customer page: start a chat, show it, and keep it across reloads and
// failovers (the socket itself is connection.js's business).
import { Connection, newClientId, serverText, stateText, store } from "./connection.js";
import { availability, hideOfflineForm, offerOfflineForm, prefillName, showExpectedWait } from "./offline.js";
import {
  KEPT_EVENTS, Sequencer, TypingLine, TypingSender, appendScrolled, closeReasonText, eventItem, pendingItem, scrollDown,
  waitWords,
} from "./transcript.js";

const KEY = "chat.customer";
const $ = (selector) => document.querySelector(selector);

const ui = {
  status: $("#status"),
  server: $("#server"),
  epoch: $("#epoch"),
  startForm: $("#start"),
  chat: $("#chat"),
  subject: $("#subject"),
  transcript: $("#transcript"),
  outbox: $("#outbox"),
  typing: new TypingLine($("#typing")),
  place: $("#place"),
  sendForm: $("#send"),
  leave: $("#leave"),
  ended: $("#ended"),
  endedText: $("#ended-text"),
  newChat: $("#new-chat"),
  error: $("#error"),
};

// {session_id, token, participant_id, nickname, subject, events, closed, leaving}
let chat = store.load(KEY, null);
let startFrame = null;
const nicknames = new Map();

const conn = new Connection({
  path: "/ws/chat/",
  key: KEY,
  hello() {
    if (!chat) return startFrame ? [startFrame] : [];
    const frames = [{ type: "resume", session_id: chat.session_id, token: chat.token, last_seq: sequencer.last }];
    if (chat.leaving) frames.push({ type: "leave" });
    return frames;
  },
  onFrame: receive,
  onState(state, detail) {
    ui.status.dataset.state = state;
    ui.status.textContent = state === "stopped" && chat?.closed ? "Chat ended" : stateText(state, detail);
    if (state === "open") ui.server.textContent = serverText({ url: detail.url });
  },
  onServer(server) {
    ui.server.textContent = serverText(server);
    if (server.epoch !== null) ui.epoch.textContent = String(server.epoch);
  },
});

const sequencer = new Sequencer(lastShownSeq(), show, () => conn.reconnectNow());

function lastShownSeq() {
  return chat?.events?.length ? chat.events[chat.events.length - 1].seq : 0;
}

function save() {
  if (chat) store.save(KEY, chat);
}

function show(event) {
  if (event.nickname && event.from) nicknames.set(event.from, event.nickname);
  appendScrolled(ui.transcript, eventItem(event, chat.participant_id), event.from === chat.participant_id);
  chat.events.push(event);
  if (chat.events.length > KEPT_EVENTS) chat.events.splice(0, chat.events.length - KEPT_EVENTS);
  if (event.type === "message") {
    conn.ack(event.client_id);
    drawOutbox();
    if (event.from !== chat.participant_id) ui.typing.set("", false);
  }
  if (event.type === "closed") end(`This chat has ended: ${closeReasonText(event.reason)}.`);
  if (event.type === "closed" && event.reason === "queue-timeout") unanswered();
  if (event.type === "notice" && event.notice === "queued") showPlace(event.position, event.estimated_wait_s);
  if ((event.type === "joined" && event.role === "agent") || event.type === "closed") showPlace(null);
  save();
}

/** The customer's place in the queue as last heard (null: not waiting), with the
 * estimated wait when the server has a basis for one. The stored `queued` notice
 * gives the first; later ones come without a seq. */
function showPlace(position, estimatedWaitS) {
  ui.place.hidden = position === null;
  ui.place.textContent = position === null ? "" : `You are number ${position} in the queue${waitText(estimatedWaitS)}`;
  if (position !== null && Number.isInteger(estimatedWaitS)) ui.place.dataset.estimatedWaitS = String(estimatedWaitS);
  else delete ui.place.dataset.estimatedWaitS;
}

function waitText(seconds) {
  const words = waitWords(seconds);
  return words ? `; estimated wait ${words}` : "";
}

function receive(frame) {
  switch (frame.type) {
    case "started":
      chat = {
        session_id: frame.session_id, token: frame.token, participant_id: frame.participant_id,
        nickname: startFrame.nickname, subject: startFrame.subject, events: [], closed: false, leaving: false,
      };
      startFrame = null;
      save();
      openChat();
      break;
    case "resumed":
      if (frame.epoch !== undefined) ui.epoch.textContent = String(frame.epoch);
      break;
    case "typing":
      if (chat && frame.from !== chat.participant_id) ui.typing.set(nicknames.get(frame.from) ?? "The agent", frame.state);
      break;
    case "error":
      if (frame.code === "bad-token" && chat) {
        end("This chat is no longer available.");
      } else if (!chat && startFrame && (frame.code === "closed" || frame.code === "busy")) {
        // Nobody there after all (closed meanwhile, the queue full): the offline form instead.
        prefillName(startFrame.nickname);
        startFrame = null;
        conn.stop();
        ui.startForm.hidden = true;
        offerOfflineForm(frame.code);
      } else if (!chat && startFrame) {
        // The start was refused (say, an empty nickname): back to the form.
        startFrame = null;
        conn.stop();
        ui.startForm.querySelector("button").disabled = false;
        showError(frame.message);
      } else {
        showError(frame.message);
      }
      break;
    default:
      if (!chat || frame.session_id !== chat.session_id) break;
      if ("seq" in frame) sequencer.push(frame);
      else if (frame.type === "notice" && frame.notice === "queued") showPlace(frame.position, frame.estimated_wait_s);
  }
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = false;
  setTimeout(() => { ui.error.hidden = true; }, 6000);
}

function openChat() {
  ui.startForm.hidden = true;
  hideOfflineForm();
  ui.chat.hidden = false;
  ui.subject.textContent = chat.subject ? `About: ${chat.subject}` : `Chatting as ${chat.nickname}`;
  ui.sendForm.hidden = chat.closed;
  ui.leave.hidden = chat.closed;
  ui.sendForm.elements.text.focus();
}

function drawOutbox() {
  const pending = conn.pending();
  ui.outbox.replaceChildren(...pending.map(pendingItem));
  if (pending.length) scrollDown(ui.outbox);
}

/** The wait ended with nobody answering (queue-timeout): offer to leave a message. */
function unanswered() {
  prefillName(chat.nickname);
  offerOfflineForm("queue-timeout", chat.session_id);
}

function end(text) {
  chat.closed = true;
  chat.leaving = false;
  save();
  conn.clearOutbox();
  drawOutbox();
  conn.stop();
  ui.typing.set("", false);
  ui.sendForm.hidden = true;
  ui.leave.hidden = true;
  ui.endedText.textContent = text;
  ui.ended.hidden = false;
}

ui.startForm.addEventListener("submit", (submit) => {
  submit.preventDefault();
  const form = ui.startForm.elements;
  const nickname = form.nickname.value.trim();
  if (!nickname) return;
  startFrame = { type: "start", nickname, subject: form.subject.value.trim() };
  ui.startForm.querySelector("button").disabled = true;
  conn.start();
});

const typing = new TypingSender((state) => conn.send({ type: "typing", state }));
ui.sendForm.elements.text.addEventListener("input", () => typing.input());

ui.sendForm.addEventListener("submit", (submit) => {
  submit.preventDefault();
  const input = ui.sendForm.elements.text;
  const text = input.value;
  if (!text.trim() || !chat || chat.closed) return;
  typing.stop();
  conn.sendReliably({ type: "message", text, client_id: newClientId() });
  drawOutbox();
  input.value = "";
  input.focus();
});

ui.leave.addEventListener("click", () => {
  if (!chat || chat.closed) return;
  chat.leaving = true;
  save();
  conn.send({ type: "leave" });
  ui.leave.disabled = true;
});

ui.newChat.addEventListener("click", () => {
  store.drop(KEY);
  conn.clearOutbox();
  location.reload();
});

// A reload redraws the kept transcript and resumes after its last seq.
if (chat) {
  for (const event of chat.events) {
    if (event.nickname && event.from) nicknames.set(event.from, event.nickname);
    ui.transcript.append(eventItem(event, chat.participant_id));
  }
  openChat();
  drawOutbox();
  if (chat.closed) {
    const closed = chat.events.findLast((event) => event.type === "closed");
    end(closed ? `This chat has ended: ${closeReasonText(closed.reason)}.` : "This chat has ended.");
    if (closed?.reason === "queue-timeout") unanswered();
  } else {
    conn.start();
  }
  const scroller = ui.transcript.closest(".scroll");
  scroller.scrollTop = scroller.scrollHeight;
} else {
  // Before a chat starts: is anybody there? If not, the offline form instead.
  // With no agent available yet a customer may still wait in the queue (one may come;
  // queue-timeout ends a wait nobody answers); closed or full, the form is all there is.
  availability().then((answer) => {
    if (answer.available || answer.reason === "no-agent") {
      showExpectedWait(answer.expected_wait_s);
      ui.startForm.hidden = false;
    }
    if (!answer.available) offerOfflineForm(answer.reason);
  });
}
