// Nobody there (issue 13): before a chat starts, ask whether anybody is there
// (GET /api/chat/availability); when nobody is, or a wait ends unanswered
// (closed, reason queue-timeout), offer the offline form, posted to
// /api/chat/offline-message with the page's CSRF token.
import { waitWords } from "./transcript.js";

const $ = (selector) => document.querySelector(selector);

const ABSENCE_TEXTS = {
  closed: "We are closed right now (outside our opening hours).",
  "no-agent": "Nobody is available to chat right now: leave us a message, or start a chat and wait for the next agent.",
  busy: "All our agents are busy and the queue is full.",
  "queue-timeout": "Sorry, nobody answered in time.",
};

/** Whether a chat may start now: {available, reason, expected_wait_s, ...};
 * a page that cannot ask (the server does not answer) lets the customer try. */
export async function availability() {
  try {
    const response = await fetch("/api/chat/availability", { headers: { Accept: "application/json" } });
    if (response.ok) return await response.json();
  } catch (error) {
    console.warn("availability: no answer", error);
  }
  return { available: true, reason: null, expected_wait_s: null };
}

/** The expected wait under the start form, when the estimate gives one. */
export function showExpectedWait(seconds) {
  const line = $("#expected-wait");
  const words = waitWords(seconds);
  if (!words) return;
  line.textContent = `Expected wait: ${words}`;
  line.hidden = false;
}

/** Show the offline form, saying why (a reason of the availability answer, or
 * queue-timeout); ``sessionId`` names the chat that nobody answered, if any. */
export function offerOfflineForm(reason, sessionId = "") {
  const section = $("#nobody");
  $("#nobody-text").textContent = ABSENCE_TEXTS[reason] ?? ABSENCE_TEXTS["no-agent"];
  section.dataset.reason = reason;
  const form = $("#offline");
  form.elements.session_id.value = sessionId;
  section.hidden = false;
}

/** A chat started after all: the form goes. */
export function hideOfflineForm() {
  $("#nobody").hidden = true;
}

/** Fill the name from what the customer typed already. */
export function prefillName(name) {
  const input = $("#offline").elements.name;
  if (name && !input.value) input.value = name;
}

function wire() {
  const form = $("#offline");
  const button = form.querySelector("button");
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    button.disabled = true;
    let problem = null;
    try {
      const response = await fetch("/api/chat/offline-message", {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
      });
      if (response.status !== 201) {
        const answer = await response.json().catch(() => ({}));
        problem = answer.message ?? `the server answered ${response.status}`;
      }
    } catch (error) {
      problem = "the server did not answer: try again in a moment";
    }
    button.disabled = false;
    if (problem) {
      const shown = $("#error");
      shown.textContent = `Your message was not sent: ${problem}`;
      shown.hidden = false;
      return;
    }
    form.hidden = true;
    $("#offline-done").hidden = false;
  });
}

wire();
