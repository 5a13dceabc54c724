// chat_node.js - exercise 4's chat on Node's `ws` (npm package ws@8.18.0, the
// usual choice for a Node WebSocket server), the same JSON protocol as
// skeletons/ex04_websocket/chat.h:
//   GET /ws?name=NAME  join; {"type":"users"} to the newcomer, {"type":"join"}
//                      to the others, {"type":"leave"} when a user goes;
//   {"type":"message","text":...} is broadcast to everyone, the sender
//                      included, as {"type":"message","from":...,"text":...}.
// Written the way ws's README does it (broadcast: loop over the clients,
// send() to each open one).  Prints "listening on PORT" once bound.
//
//   node chat_node.js [PORT]      (0, the default: a free port)
'use strict';
const http = require('http');
const { WebSocketServer, WebSocket } = require('ws');

const MAX_MESSAGE = 2 << 20;          // as ws_config's max_message
const MAX_TEXT = 1 << 20;             // CHAT_MAX_TEXT
const NAME_RE = /^[A-Za-z0-9_-]{1,32}$/;
const PAGE = '<!doctype html><meta charset="utf-8"><title>chat</title><pre id="log"></pre>' +
  '<script>const ws = new WebSocket(`ws://${location.host}/ws?name=` +' +
  ' encodeURIComponent(prompt("name") || "")); ws.onmessage = (e) =>' +
  ' { document.getElementById("log").textContent += e.data + "\\n"; };</script>\n';

const users = new Map();              // name -> socket, in join order

function broadcast(obj) {
  const data = JSON.stringify(obj);   // encoded once
  for (const ws of users.values())
    if (ws.readyState === WebSocket.OPEN)
      ws.send(data);
}

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (req.method === 'GET' && path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  } else if (path === '/ws') {
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end('expected a WebSocket upgrade: connect to /ws?name=NAME\n');
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

const wss = new WebSocketServer({ server, path: '/ws', maxPayload: MAX_MESSAGE });

wss.on('connection', (ws, req) => {
  const name = new URL(req.url, 'http://localhost').searchParams.get('name');
  let reason = null;
  if (name === null)
    reason = 'missing name: connect to /ws?name=NAME';
  else if (!NAME_RE.test(name))
    reason = 'invalid name: 1 to 32 characters among A-Z a-z 0-9 _ -';
  else if (users.has(name))
    reason = `name taken: ${name}`;
  if (reason !== null) {
    ws.send(JSON.stringify({ type: 'error', reason }));
    ws.close(1008, reason);
    return;
  }
  users.set(name, ws);
  ws.send(JSON.stringify({ type: 'users', users: [...users.keys()] }));
  const join = JSON.stringify({ type: 'join', user: name });
  for (const [other, peer] of users)
    if (other !== name && peer.readyState === WebSocket.OPEN)
      peer.send(join);

  ws.on('message', (data, isBinary) => {
    const error = (why) => ws.send(JSON.stringify({ type: 'error', reason: why }));
    if (isBinary)
      return error('binary frames are not supported: send JSON text');
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch (e) {
      return error('not JSON');
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg))
      return error('not a JSON object');
    if (msg.type !== 'message')
      return error('unknown type: expected {"type":"message","text":...}');
    if (typeof msg.text !== 'string')
      return error('"text" must be a string');
    if (Buffer.byteLength(msg.text, 'utf8') > MAX_TEXT)
      return error('text too long');
    broadcast({ type: 'message', from: name, text: msg.text });
  });
  ws.on('close', () => {
    if (users.get(name) === ws) {
      users.delete(name);
      broadcast({ type: 'leave', user: name });
    }
  });
  ws.on('error', () => {});           // 'close' follows
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(`listening on ${server.address().port}`);
});
for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => process.exit(0));
