// The one place where both pages keep a websocket to whichever instance of
// the pair serves: reconnect with backoff, follow a backup's `not-primary`
// hint, learn the pair from /api/ha/topology, and re-send unacknowledged
// messages (each has a client_id; the server stores a re-send once).
//
// A page gives:
//   hello()        the frames that (re-)attach it, sent first on every open
//                  (`start` or `resume`, then `ready` for an agent);
//   onFrame(f)     every frame but `not-primary`, which is handled here;
//   onState(s, d)  "connecting" | "open" | "waiting" | "stopped" (d: details);
//   onServer(s)    {url, name, role, epoch} of the instance it is on; epoch is the
//                  highest this page has seen (see Connection.epoch).

// Retries go in rounds: every known instance of the pair in turn, a moment
// apart (a dead one refuses at once, a backup with a live primary answers
// `not-primary` within a watch round, one taking over holds the socket until it serves),
// then a pause that doubles from BACKOFF_FIRST_MS up to BACKOFF_MAX_MS. The cap
// is under the default lease (1.5 s), so a page finds a new primary within
// about a second of it serving.
const NEXT_IN_ROUND_MS = 50;
// After an `unavailable` error (the store did not answer), the outbox goes again this much later.
const UNAVAILABLE_RETRY_MS = 500;
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 1000;
// A backup names the primary: go there at once, unless it named the server we
// just tried. Two servers naming each other (mid-change) fall back to rounds.
const HINTS_FOLLOWED_AT_ONCE = 3;
// A socket that stayed open this long was a real primary: retries start over.
const STABLE_AFTER_MS = 1000;
// Behind a front door (a page whose origin is none of the pair's members, as
// /api/ha/topology names them; issue 12) the page's own origin is the one
// address: the door sends it to whichever member serves, a reload goes through
// it too, and the members' own addresses may not even be reachable from the
// browser (nor get an agent's cookie). So every round is the door alone, and a
// not-primary or switchover hint is followed through it (the door's health
// check moves within 0.2 s). Only after this many rounds that found nobody
// (about 3 s, longer than a failover takes) do the members join the rounds,
// for a door that is itself down.
const FRONT_DOOR_ALONE_ROUNDS = 4;
// A standby socket (docs/protocol.md, "Standby sockets"): the page keeps a second
// socket open to the other member of the pair, and when its socket to the primary
// drops it sends its hello there at once: a takeover then costs it no handshake
// (issue 8: 2,000 handshakes were most of a 1,000-chat reconnect storm). The member
// holds that hello while it takes over, or refuses it (not-primary, 4010) if
// another member serves, and the page goes on in rounds. A standby that could not
// be opened, or that closed, is opened again after a pause that doubles from
// STANDBY_RETRY_FIRST_MS to STANDBY_RETRY_MAX_MS. None behind a front door: the
// door is the page's one address.
const STANDBY_QUERY = "?standby=1";
const STANDBY_RETRY_FIRST_MS = 1000;
const STANDBY_RETRY_MAX_MS = 8000;
// After its socket dropped, the page opens its next standby (to the member that
// dropped it, which is down or restarting) only this long after, drawn at random
// between the two: knocking at once is wasted, and a thousand pages would meet a
// restarted member all at once.
const STANDBY_AFTER_LOSS_MS = [2000, 6000];

export const CLOSE_NOT_PRIMARY = 4010;

/** sessionStorage as JSON; a full or disabled storage only loses the resume. */
export const store = {
  load(key, fallback) {
    try {
      const raw = sessionStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  save(key, value) {
    try {
      sessionStorage.setItem(key, JSON.stringify(value));
    } catch {
      /* private mode or quota: the chat goes on, a reload will not resume it */
    }
  },
  drop(key) {
    try {
      sessionStorage.removeItem(key);
    } catch {
      /* as above */
    }
  },
};

export function pageWsBase() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
}

function httpBase(wsBase) {
  return wsBase.replace(/^ws/, "http");
}

export function backoffMs(round) {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** round);
  return Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: clients do not reconnect in step
}

export function newClientId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  // crypto.randomUUID needs a secure context; plain http on a LAN address is not one.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class Connection {
  constructor({ path, key, hello, onFrame, onState = () => {}, onServer = () => {} }) {
    this.path = path;
    this.key = key;
    this.hello = hello;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onServer = onServer;
    const servers = store.load(`${key}.servers`, {});
    this.primary = servers.primary || pageWsBase();
    this.backup = servers.backup || null;
    this.frontDoor = servers.frontDoor === true; // kept, so that a reload starts at the door
    // client_id -> frame, oldest first (a Map keeps insertion order).
    this.outbox = new Map(store.load(`${key}.outbox`, []));
    this.ws = null;
    this.resendTimer = null;  // a resend after `unavailable` (resendSoon)
    this.url = null;
    this.round = 0; // rounds over the pair's instances that found no primary
    this.inRound = 0;
    this.hint = null;
    this.hintsFollowed = 0;
    this.running = false;
    this.retryTimer = null;
    this.stableTimer = null;
    this.standby = null; // {ws, url, ready}: see STANDBY_QUERY
    this.standbyTimer = null;
    this.standbyRetryMs = STANDBY_RETRY_FIRST_MS;
    this.noStandbyFor = null; // a socket closed on purpose (reconnectNow): its next is a fresh one
    this.standbyNotBefore = 0; // Date.now(): see STANDBY_AFTER_LOSS_MS
    // The pair's epoch only grows, but what tells it can arrive out of order: a page
    // that resumes on a standby socket reads the member's topology at once, while
    // the member is still taking over (the old epoch), and that answer can land
    // after the `resumed` frame that names the new one. So the highest seen counts.
    this.epoch = null;
  }

  /** Connect, and keep connecting until stop(). */
  start() {
    if (this.running) return;
    this.running = true;
    this.learnTopology(httpBase(pageWsBase()));
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.stableTimer);
    clearTimeout(this.standbyTimer);
    this.dropStandby();
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
    this.onState("stopped");
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send now if connected; an ephemeral frame (typing) is simply lost otherwise. */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send a frame with a client_id until its event comes back (see ack). */
  sendReliably(frame) {
    this.outbox.set(frame.client_id, frame);
    this.saveOutbox();
    this.send(frame);
  }

  /** The event of this client_id came back: the server has it. */
  ack(clientId) {
    if (clientId && this.outbox.delete(clientId)) this.saveOutbox();
  }

  pending() {
    return [...this.outbox.values()];
  }

  /** Send the outbox again on this socket after UNAVAILABLE_RETRY_MS (one timer at a time). */
  resendSoon(ws) {
    if (this.resendTimer) return;
    this.resendTimer = setTimeout(() => {
      this.resendTimer = null;
      if (this.ws === ws) for (const frame of this.pending()) this.send(frame);
    }, UNAVAILABLE_RETRY_MS);
  }

  clearOutbox() {
    this.outbox.clear();
    this.saveOutbox();
  }

  /** Drop the socket and resume on a fresh one (a gap in seq that did not fill). */
  reconnectNow() {
    if (!this.ws) return;
    this.noStandbyFor = this.ws;
    this.ws.close(1000);
  }

  saveOutbox() {
    store.save(`${this.key}.outbox`, [...this.outbox]);
  }

  saveServers() {
    store.save(`${this.key}.servers`, { primary: this.primary, backup: this.backup, frontDoor: this.frontDoor });
  }

  candidates() {
    if (this.frontDoor) {
      const page = pageWsBase();
      return this.round < FRONT_DOOR_ALONE_ROUNDS ? [page] : [...new Set([page, this.primary, this.backup].filter(Boolean))];
    }
    return [...new Set([this.primary, this.backup, pageWsBase()].filter(Boolean))];
  }

  /** Whether ``url`` is the front door, where hints and the primary's address do not apply. */
  viaFrontDoor(url) {
    return this.frontDoor && url === pageWsBase();
  }

  nextUrl() {
    if (this.hint) {
      const hint = this.hint;
      this.hint = null;
      return hint;
    }
    // The primary we knew first, then the others in turn: whichever serves.
    const list = this.candidates();
    return list[this.inRound % list.length];
  }

  connect() {
    const url = this.nextUrl();
    this.onState("connecting", { url, round: this.round });
    let ws;
    try {
      ws = new WebSocket(url + this.path);
    } catch {
      this.url = url;
      this.retry(url, 1006, null);
      return;
    }
    this.use(ws, url);
  }

  /** Make ``ws`` (to ``url``, open or opening) the page's socket: the hello and the outbox go on open. */
  use(ws, url) {
    this.ws = ws;
    this.url = url;
    let hint = null;
    const opened = () => {
      for (const frame of this.hello()) ws.send(JSON.stringify(frame));
      for (const frame of this.outbox.values()) ws.send(JSON.stringify(frame));
      this.stableTimer = setTimeout(() => {
        this.round = 0;
        this.inRound = 0;
        this.hintsFollowed = 0;
        this.hint = null; // one from a replayed switchover notice is stale by now
        if (this.primary !== url && !this.viaFrontDoor(url)) {
          // Whoever keeps us is the primary now; the one we knew is the backup.
          this.backup = this.primary;
          this.primary = url;
          this.saveServers();
        }
      }, STABLE_AFTER_MS);
      this.onState("open", { url });
      this.learnTopology(httpBase(url), url);
    };
    if (ws.readyState === WebSocket.OPEN) {
      opened();
    } else {
      ws.onopen = () => {
        if (this.ws === ws) opened();
      };
    }
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "not-primary") {
        hint = frame.primary || null;
        return;
      }
      if (frame.type === "resumed") this.sawEpoch(frame.epoch);
      if (frame.type === "error" && frame.code === "unavailable") {
        // The store did not answer (a Redis blip or failover): nothing was done, so what
        // waits for its own copy goes again, once, shortly; its client_id makes that harmless.
        this.resendSoon(ws);
        return;
      }
      if (frame.type === "notice" && frame.notice === "switchover" && frame.primary && !this.viaFrontDoor(url)) {
        // A graceful switchover names the new primary before this socket goes.
        this.hint = frame.primary;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const onPurpose = this.noStandbyFor === ws;
      this.noStandbyFor = null;
      if (!onPurpose) {
        const [least, most] = STANDBY_AFTER_LOSS_MS;
        this.standbyNotBefore = Date.now() + least + Math.random() * (most - least);
      }
      if (!onPurpose && this.resumeOnStandby(url, this.hint || hint)) return;
      this.retry(url, event.code, hint);
    };
  }

  /** The socket to ``url`` dropped: go on, at once, on the standby socket if one is
   * ready (and is where a hint, if any, points). */
  resumeOnStandby(url, hint) {
    const standby = this.standby;
    if (!this.running || !standby || !standby.ready || standby.url === url) return false;
    if (standby.ws.readyState !== WebSocket.OPEN || (hint && hint !== standby.url)) return false;
    this.standby = null;
    clearTimeout(this.stableTimer);
    if (this.hint === standby.url) this.hint = null;
    this.use(standby.ws, standby.url);
    return true;
  }

  /** Keep a standby socket to the other member of the pair (see STANDBY_QUERY). */
  keepStandby() {
    clearTimeout(this.standbyTimer);
    const other = [this.primary, this.backup].find((u) => u && u !== this.url);
    if (!this.running || this.frontDoor || !this.isOpen || !other) {
      this.dropStandby();
      return;
    }
    if (this.standby?.url === other) return;
    this.dropStandby();
    const wait = this.standbyNotBefore - Date.now();
    if (wait > 0) {
      this.standbyTimer = setTimeout(() => this.keepStandby(), wait);
      return;
    }
    let ws;
    try {
      ws = new WebSocket(other + this.path + STANDBY_QUERY);
    } catch {
      this.standbyLater();
      return;
    }
    const standby = { ws, url: other, ready: false };
    this.standby = standby;
    ws.onmessage = (message) => {
      if (this.standby !== standby) return;
      try {
        standby.ready = JSON.parse(message.data).type === "standby";
      } catch {
        return;
      }
      if (standby.ready) this.standbyRetryMs = STANDBY_RETRY_FIRST_MS;
    };
    ws.onclose = () => {
      if (this.standby !== standby) return;
      this.standby = null;
      this.standbyLater();
    };
  }

  standbyLater() {
    clearTimeout(this.standbyTimer);
    if (!this.running) return;
    const delay = Math.round(this.standbyRetryMs * (0.8 + Math.random() * 0.4));
    this.standbyRetryMs = Math.min(STANDBY_RETRY_MAX_MS, this.standbyRetryMs * 2);
    this.standbyTimer = setTimeout(() => this.keepStandby(), delay);
  }

  dropStandby() {
    const standby = this.standby;
    this.standby = null;
    if (standby) standby.ws.close(1000);
  }

  retry(url, code, hint) {
    clearTimeout(this.stableTimer);
    if (!this.running) return;
    if (this.hint === url) this.hint = null;
    if (code === CLOSE_NOT_PRIMARY && hint && hint !== url && !this.viaFrontDoor(url)) {
      this.hint = hint;
      if (!this.candidates().includes(hint)) this.backup = hint;
    }
    let delay;
    if (this.hint && this.hintsFollowed < HINTS_FOLLOWED_AT_ONCE) {
      this.hintsFollowed += 1;
      delay = NEXT_IN_ROUND_MS;
    } else {
      this.hint = null;
      this.inRound += 1;
      if (this.inRound < this.candidates().length) {
        delay = NEXT_IN_ROUND_MS;
      } else {
        delay = backoffMs(this.round);
        this.round += 1;
        this.inRound = 0;
        this.hintsFollowed = 0;
      }
    }
    this.onState("waiting", { url, code, delay, round: this.round, notPrimary: code === CLOSE_NOT_PRIMARY });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Read the pair from an instance: names, epoch, and the backup to try. */
  async learnTopology(http, connectedUrl = null) {
    let topology;
    try {
      const response = await fetch(`${http}/api/ha/topology`, { cache: "no-store" });
      if (!response.ok) return;
      topology = await response.json();
    } catch {
      return;
    }
    if (http === httpBase(pageWsBase()) && topology.primary?.ws) {
      // Read through the page's origin while a primary serves: the topology names
      // every member then, so an origin that is none of them is a front door.
      this.frontDoor = ![topology.primary.ws, topology.backup?.ws].includes(pageWsBase());
    }
    if (topology.primary?.ws) this.primary = topology.primary.ws;
    if (topology.backup?.ws) this.backup = topology.backup.ws;
    this.saveServers();
    this.sawEpoch(topology.epoch);
    if (connectedUrl !== null && this.url === connectedUrl && this.isOpen) {
      this.keepStandby();
      this.onServer({
        url: connectedUrl,
        name: topology.self?.name ?? null,
        role: topology.self?.role ?? null,
        epoch: this.epoch,
      });
    }
  }

  /** Note an epoch the pair told (see this.epoch): the highest counts. */
  sawEpoch(epoch) {
    if (Number.isInteger(epoch) && (this.epoch === null || epoch > this.epoch)) this.epoch = epoch;
  }
}

function hostOf(url) {
  return url ? url.replace(/^wss?:\/\//, "") : "";
}

/** Words for the status line, from onState's arguments. */
export function stateText(state, detail = {}) {
  switch (state) {
    case "connecting":
      return `Connecting to ${hostOf(detail.url)}…`;
    case "open":
      return "Connected";
    case "waiting":
      if (detail.notPrimary) return `${hostOf(detail.url)} is not serving; trying again…`;
      return `Connection lost; retrying in ${(detail.delay / 1000).toFixed(1)} s`;
    case "stopped":
      return "Not connected";
    default:
      return state;
  }
}

export function serverText(server) {
  return server.name ? `${server.name} (${hostOf(server.url)})` : hostOf(server.url);
}
