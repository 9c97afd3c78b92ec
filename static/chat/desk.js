// What the agent desktop and the supervisor page share: the chats this user
// follows, kept in the browser (connection.js' store) under the page's key, each
// shown in a panel cut from a template, with its transcript (in seq order:
// transcript.js' Sequencer), its outbox of messages not yet seen come back, and
// its end. Each page adds its own controls and its own answer to an event.
import { store } from "./connection.js";
import { KEPT_EVENTS, Sequencer, appendScrolled, eventItem, pendingItem, scrollDown } from "./transcript.js";

export class Desk {
  /**
   * key: the store key (one per user); initial: the state of a first visit, with
   * ``chats: {}``; template: the panel's <template>; container: where panels go;
   * onShown(id, event, chat, entry): the page's own answer to an event, once shown;
   * onEnded(id, ended, entry): the page's own controls of a chat that ended (or not).
   */
  constructor({ key, initial, template, container, onShown, onEnded }) {
    this.key = key;
    this.state = store.load(key, initial);
    this.template = template;
    this.container = container;
    this.onShown = onShown;
    this.onEnded = onEnded;
    this.panels = new Map(); // session_id -> {panel, nodes, sequencer, ...the page's own}
    this.conn = null; // the page's Connection, set once made (its hello reads the panels)
  }

  save() {
    store.save(this.key, this.state);
  }

  /** The page's panels of the chats kept from an earlier visit, as they were left. */
  restore(addPanel) {
    for (const [id, chat] of Object.entries(this.state.chats)) {
      addPanel(id);
      this.setEnded(id, chat.ended || null);
    }
  }

  /**
   * A panel for chat ``id``: ``nodes`` maps a name to a selector in the template
   * (``transcript``, ``outbox``, ``form``, ``ended`` and ``dismiss`` at least);
   * ``wire(entry, chat)`` adds the page's own fields and listeners before it is shown.
   */
  addPanel(id, nodes, wire) {
    const chat = this.state.chats[id];
    const panel = this.template.content.firstElementChild.cloneNode(true);
    panel.dataset.session = id;
    const lastSeq = chat.events.length ? chat.events[chat.events.length - 1].seq : 0;
    const entry = {
      panel,
      nodes: Object.fromEntries(Object.entries(nodes).map(([name, selector]) => [name, panel.querySelector(selector)])),
      sequencer: new Sequencer(lastSeq, (event) => this.show(id, event), () => this.conn.reconnectNow()),
    };
    this.panels.set(id, entry);
    for (const event of chat.events) entry.nodes.transcript.append(eventItem(event, chat.participant_id));
    wire(entry, chat);
    this.container.append(panel);
    this.drawOutbox(id);
    const scroller = panel.querySelector(".scroll");
    scroller.scrollTop = scroller.scrollHeight;
    return entry;
  }

  /** A frame with a seq, for the chat's panel if there is one (in order, gaps filled). */
  push(frame) {
    const entry = this.panels.get(frame.session_id);
    if (entry) entry.sequencer.push(frame);
  }

  show(id, event) {
    const chat = this.state.chats[id];
    const entry = this.panels.get(id);
    appendScrolled(entry.nodes.transcript, eventItem(event, chat.participant_id), event.from === chat.participant_id);
    chat.events.push(event);
    if (chat.events.length > KEPT_EVENTS) chat.events.splice(0, chat.events.length - KEPT_EVENTS);
    if (event.type === "message") {
      this.conn.ack(event.client_id);
      this.drawOutbox(id);
    }
    this.onShown(id, event, chat, entry);
    this.save();
  }

  /** What the user wrote in chat ``id`` that has not come back yet. */
  drawOutbox(id) {
    const pending = this.conn.pending().filter((frame) => frame.session_id === id);
    const { outbox } = this.panels.get(id).nodes;
    outbox.replaceChildren(...pending.map(pendingItem));
    if (pending.length) scrollDown(outbox);
  }

  /** Chat ``id`` ended for this user (``text`` says how): what it had not sent is dropped. */
  finish(id, text) {
    this.state.chats[id].ended = text;
    this.dropPending(id);
    this.drawOutbox(id);
    this.save();
    this.setEnded(id, text);
  }

  dropPending(id) {
    for (const frame of this.conn.pending()) if (frame.session_id === id) this.conn.ack(frame.client_id);
  }

  setEnded(id, text) {
    const entry = this.panels.get(id);
    const ended = Boolean(text);
    entry.nodes.form.hidden = ended;
    entry.nodes.dismiss.hidden = !ended;
    entry.nodes.ended.hidden = !ended;
    entry.nodes.ended.textContent = text ?? "";
    entry.panel.classList.toggle("is-ended", ended);
    this.onEnded(id, ended, entry);
  }

  /** Chat ``id`` out of the page and of the store. */
  forget(id) {
    const entry = this.panels.get(id);
    if (entry) entry.panel.remove();
    this.panels.delete(id);
    delete this.state.chats[id];
    this.save();
  }

  /** Logging out stops the socket and leaves nothing of this user in the browser. */
  clearOnLogout(form) {
    form.addEventListener("submit", () => {
      this.conn.stop();
      for (const suffix of ["", ".outbox", ".servers"]) store.drop(this.key + suffix);
    });
  }
}
