import { describe, expect, it, vi } from "vitest";
import type { ServerFrame } from "./protocol";
import { ChatSocket, type SocketLike, memoryStore } from "./ws-client";

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: unknown[] = [];
  closedWith: number | null = null;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close(code = 1000) {
    this.closedWith = code;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  receive(frame: object) {
    this.onmessage?.({ data: JSON.stringify(frame) } as MessageEvent);
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code } as CloseEvent);
  }
}

function setup(options: { tokens?: (string | null)[]; store?: ReturnType<typeof memoryStore> } = {}) {
  const sockets: FakeSocket[] = [];
  const timers: (() => void)[] = [];
  const tokens = [...(options.tokens ?? ["t1", "t2", "t3", "t4"])];
  const getToken = vi.fn(async (_refresh: boolean) => tokens.shift() ?? null);
  const onAuthLost = vi.fn();
  const client = new ChatSocket({
    url: "ws://test/ws",
    getToken,
    onAuthLost,
    createSocket: () => {
      const socket = new FakeSocket();
      sockets.push(socket);
      return socket;
    },
    store: options.store,
    backoff: () => 10,
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => undefined,
    pingIntervalMs: 0,
  });
  const frames: ServerFrame[] = [];
  client.onFrame((frame) => frames.push(frame));
  const flush = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { client, sockets, timers, getToken, onAuthLost, frames, flush };
}

describe("ChatSocket", () => {
  it("says hello with the token, then keeps the session id it is given", async () => {
    const { client, sockets, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    expect(sockets[0]!.sent).toEqual([{ type: "hello", token: "t1", session_id: null, last_seq: null }]);
    sockets[0]!.receive({ type: "ready", session_id: "s1" });
    expect(client.connectionStatus).toBe("open");
    expect(client.session).toEqual({ sessionId: "s1", lastSeq: null });
  });

  it("holds prompts sent before ready and sends them after", async () => {
    const { client, sockets, flush } = setup();
    client.start();
    client.send({ type: "ping" });
    await flush();
    sockets[0]!.open();
    expect(sockets[0]!.sent).toHaveLength(1);
    sockets[0]!.receive({ type: "ready", session_id: "s1" });
    expect(sockets[0]!.sent).toEqual([expect.objectContaining({ type: "hello" }), { type: "ping" }]);
  });

  it("drops stream frames at or below the last seq it applied", async () => {
    const { client, sockets, frames, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.receive({ type: "ready", session_id: "s1" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 1, text: "a" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 2, text: "b" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 2, text: "b" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 1, text: "a" });
    sockets[0]!.receive({ type: "pong" });
    expect(frames.map((f) => (f.type === "delta" ? f.seq : f.type))).toEqual(["ready", 1, 2, "pong"]);
    expect(client.session.lastSeq).toBe(2);
  });

  it("ignores frames that are not JSON or of unknown type", async () => {
    const { client, sockets, frames, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.onmessage?.({ data: "not json" } as MessageEvent);
    sockets[0]!.receive({ type: "surprise" });
    expect(frames).toEqual([]);
  });

  it("reconnects after a drop and resumes its session from the last seq", async () => {
    const { client, sockets, timers, frames, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.receive({ type: "ready", session_id: "s1" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 3, text: "x" });
    sockets[0]!.drop();
    expect(client.connectionStatus).toBe("reconnecting");
    expect(timers).toHaveLength(1);
    timers[0]!();
    await flush();
    sockets[1]!.open();
    expect(sockets[1]!.sent[0]).toEqual({ type: "hello", token: "t2", session_id: "s1", last_seq: 3 });
    sockets[1]!.receive({ type: "ready", session_id: "s1" });
    sockets[1]!.receive({ type: "delta", message_id: "m", seq: 4, text: "y" });
    expect(frames.filter((f) => f.type === "delta")).toHaveLength(2);
  });

  it("starts a new seq count when the server gives a new session", async () => {
    const { client, sockets, timers, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.receive({ type: "ready", session_id: "s1" });
    sockets[0]!.receive({ type: "delta", message_id: "m", seq: 9, text: "x" });
    sockets[0]!.drop();
    timers[0]!();
    await flush();
    sockets[1]!.open();
    sockets[1]!.receive({ type: "ready", session_id: "s2" });
    expect(client.session).toEqual({ sessionId: "s2", lastSeq: null });
  });

  it("resumes the session a reload left in the store", async () => {
    const store = memoryStore();
    store.save("s-old", 7);
    const { client, sockets, flush } = setup({ store });
    client.start();
    await flush();
    sockets[0]!.open();
    expect(sockets[0]!.sent[0]).toEqual({ type: "hello", token: "t1", session_id: "s-old", last_seq: 7 });
  });

  it("on 4401 refreshes the token once, then gives up and reports the lost session", async () => {
    const { client, sockets, getToken, onAuthLost, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.drop(4401);
    await flush();
    expect(getToken).toHaveBeenLastCalledWith(true);
    sockets[1]!.open();
    sockets[1]!.drop(4401);
    await flush();
    expect(onAuthLost).toHaveBeenCalledOnce();
    expect(client.connectionStatus).toBe("closed");
  });

  it("reports a lost session when there is no token at all", async () => {
    const { client, sockets, onAuthLost, flush } = setup({ tokens: [] });
    client.start();
    await flush();
    expect(sockets).toHaveLength(0);
    expect(onAuthLost).toHaveBeenCalledOnce();
  });

  it("forgets a session the server says is not ours (4403)", async () => {
    const store = memoryStore();
    store.save("someone-else", 3);
    const { client, sockets, timers, flush } = setup({ store });
    client.start();
    await flush();
    sockets[0]!.open();
    sockets[0]!.drop(4403);
    timers[0]!();
    await flush();
    sockets[1]!.open();
    expect(sockets[1]!.sent[0]).toEqual(expect.objectContaining({ session_id: null, last_seq: null }));
  });

  it("does not reconnect after stop", async () => {
    const { client, sockets, timers, flush } = setup();
    client.start();
    await flush();
    sockets[0]!.open();
    client.stop();
    expect(sockets[0]!.closedWith).toBe(1000);
    expect(timers).toHaveLength(0);
    expect(client.connectionStatus).toBe("closed");
  });
});

describe("ChatSocket token renewal", () => {
  it("sends a new hello on the open socket only when the token changed, and keeps one ping loop", async () => {
    const sockets: FakeSocket[] = [];
    const timers: { fn: () => void; cleared: boolean }[] = [];
    let token = "t1";
    const client = new ChatSocket({
      url: "ws://test/ws",
      getToken: async () => token,
      createSocket: () => {
        const socket = new FakeSocket();
        sockets.push(socket);
        return socket;
      },
      setTimer: (fn) => {
        const timer = { fn, cleared: false };
        timers.push(timer);
        return timer;
      },
      clearTimer: (handle) => void ((handle as { cleared: boolean }).cleared = true),
      pingIntervalMs: 1000,
    });
    client.start();
    await new Promise((r) => setTimeout(r, 0));
    const socket = sockets[0]!;
    socket.open();
    socket.receive({ type: "ready", session_id: "s1" });
    await client.renewToken();
    expect(socket.sent).toHaveLength(1);
    token = "t2";
    await client.renewToken();
    expect(socket.sent[1]).toEqual({ type: "hello", token: "t2", session_id: "s1", last_seq: null });
    socket.receive({ type: "ready", session_id: "s1" });
    expect(timers.filter((t) => !t.cleared)).toHaveLength(1);
  });
});
