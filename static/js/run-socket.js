// One long job over a WebSocket: start, pause, resume, stop (docs/protocol.md).

// One id per browser, shared by its tabs: the server trains one job per
// session, so a second tab's Start replaces the first tab's run.
function sessionId() {
  let id = localStorage.getItem("residual-lab-session");
  if (!id) {
    id = crypto.getRandomValues(new Uint32Array(4)).join("").slice(0, 32);
    localStorage.setItem("residual-lab-session", id);
  }
  return id;
}

export function openJob(path, config, onMessage, onClose) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}${path}?session=${sessionId()}`;
  const socket = new WebSocket(url);
  let ended = false;

  socket.onopen = () => socket.send(JSON.stringify({ type: "start", config }));
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "done" || message.type === "error") ended = true;
    onMessage(message);
  };
  socket.onclose = (event) => onClose({ code: event.code, reason: event.reason, ended });

  const send = (type) => socket.readyState === WebSocket.OPEN && socket.send(JSON.stringify({ type }));
  return {
    pause: () => send("pause"),
    resume: () => send("resume"),
    stop: () => send("stop"),
    close: () => socket.close(),
  };
}
