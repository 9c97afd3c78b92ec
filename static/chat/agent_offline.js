// The agent desktop's offline messages (issue 13): the ones left when nobody was
// there and still to answer, newest first; an agent takes one, answers it by
// email, and marks it answered. Read again every REFRESH_MS and on demand.
const $ = (selector) => document.querySelector(selector);
const REFRESH_MS = 30_000;
const me = document.body.dataset.user;

const ui = {
  list: $("#offline-list"),
  none: $("#offline-none"),
  refresh: $("#offline-refresh"),
  error: $("#error"),
};

function csrfToken() {
  return document.querySelector("form.logout [name=csrfmiddlewaretoken]")?.value ?? "";
}

function showError(text) {
  ui.error.textContent = text;
  ui.error.hidden = false;
  setTimeout(() => { ui.error.hidden = true; }, 6000);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, what, id) {
  const node = el("button", "quiet", label);
  node.type = "button";
  node.addEventListener("click", () => move(id, what));
  return node;
}

function item(message) {
  const li = el("li");
  li.dataset.id = message.id;
  li.dataset.state = message.state;
  const when = new Date(message.at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  li.append(el("span", "who", message.name));
  const meta = el("span", "meta");
  const mail = el("a", "email", message.email);
  mail.href = `mailto:${encodeURIComponent(message.email).replace(/%40/g, "@")}`;
  meta.append(mail, ` · ${when}`);
  if (message.state === "taken") meta.append(` · taken by ${message.handled_by === me ? "you" : message.handled_by}`);
  li.append(meta, el("span", "text", message.text));
  const actions = el("div", "actions");
  if (message.state === "unanswered") actions.append(button("Take", "take", message.id));
  if (message.state === "unanswered" || message.handled_by === me) {
    actions.append(button("Mark answered", "answer", message.id));
  }
  li.append(actions);
  return li;
}

async function load() {
  try {
    const response = await fetch("/api/chat/offline-messages", { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const { messages } = await response.json();
    ui.list.replaceChildren(...messages.map(item));
    ui.none.hidden = messages.length > 0;
  } catch (error) {
    console.warn("offline messages: no answer", error);
  }
}

async function move(id, what) {
  try {
    const response = await fetch(`/api/chat/offline-messages/${encodeURIComponent(id)}/${what}`, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
    if (!response.ok) {
      const answer = await response.json().catch(() => ({}));
      showError(answer.message ?? `the server answered ${response.status}`);
    }
  } catch (error) {
    showError("the server did not answer: try again in a moment");
  }
  await load();
}

ui.refresh.addEventListener("click", load);
setInterval(load, REFRESH_MS);
load();
