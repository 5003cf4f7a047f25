import { describe, expect, it } from "vitest";
import { ChatController, type ControllerEvent } from "./chat-controller";
import type { ClientFrame, ServerFrame } from "./protocol";

function setup() {
  const sent: ClientFrame[] = [];
  let deliver: (frame: ServerFrame) => void = () => undefined;
  const socket = {
    send: (frame: ClientFrame) => void sent.push(frame),
    onFrame: (listener: (frame: ServerFrame) => void) => {
      deliver = listener;
      return () => undefined;
    },
  };
  let now = 1000;
  const controller = new ChatController(socket, () => now);
  const events: ControllerEvent[] = [];
  controller.onEvent((event) => events.push(event));
  return { controller, sent, events, deliver: (f: ServerFrame) => deliver(f), tick: (ms: number) => (now += ms) };
}

describe("ChatController", () => {
  it("sends a prompt frame and follows its answer from accepted to done", () => {
    const { controller, sent, events, deliver, tick } = setup();
    const requestId = controller.prompt(
      { conversationId: null, parentId: null, model: "m", messages: [{ role: "user", content: "hi" }], params: { temperature: 0.5 } },
      "r1",
    );
    expect(requestId).toBe("r1");
    expect(sent[0]).toEqual({
      type: "prompt",
      request_id: "r1",
      conversation_id: null,
      parent_id: null,
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      params: { temperature: 0.5 },
    });
    deliver({ type: "accepted", request_id: "r1", conversation_id: "c1", message_id: "a1" });
    tick(120);
    deliver({ type: "delta", message_id: "a1", seq: 1, text: "Hel" });
    deliver({ type: "done", message_id: "a1", seq: 2, text: "Hello", finish_reason: "stop" });
    expect(controller.streams.get("a1")).toMatchObject({ text: "Hello", status: "done", startedAt: 1000, firstTokenAt: 1120 });
    expect(events).toEqual([
      { type: "accepted", requestId: "r1", conversationId: "c1", messageId: "a1", promptMessageId: null },
      { type: "finished", messageId: "a1", conversationId: "c1" },
    ]);
  });

  it("regenerates by naming the stored prompt, and files a new chat in its project", () => {
    const { controller, sent, events, deliver } = setup();
    const base = { model: "m", messages: [{ role: "user" as const, content: "hi" }], params: {} };
    controller.prompt({ ...base, conversationId: "c1", parentId: null, promptMessageId: "u1" }, "r1");
    controller.prompt({ ...base, conversationId: null, parentId: null, projectId: "p1" }, "r2");
    controller.prompt({ ...base, conversationId: "c1", parentId: "a1", promptMessageId: null, projectId: null }, "r3");
    expect(sent[0]).toMatchObject({ prompt_message_id: "u1", conversation_id: "c1" });
    expect(sent[0]).not.toHaveProperty("project_id");
    expect(sent[1]).toMatchObject({ project_id: "p1", conversation_id: null });
    expect(sent[1]).not.toHaveProperty("prompt_message_id");
    expect(Object.keys(sent[2]!)).not.toContain("prompt_message_id");
    deliver({ type: "accepted", request_id: "r1", conversation_id: "c1", message_id: "a2", prompt_message_id: "u1" });
    expect(events[0]).toEqual({ type: "accepted", requestId: "r1", conversationId: "c1", messageId: "a2", promptMessageId: "u1" });
  });

  it("tells a refused prompt from a failed answer and from a notice", () => {
    const { events, deliver, controller } = setup();
    deliver({ type: "error", code: "rate_limited", message: "Slow down", request_id: "r9" });
    deliver({ type: "error", code: "provider_error", message: "boom", message_id: "a2", seq: 4 });
    deliver({ type: "error", code: "invalid_json", message: "bad frame" });
    expect(events).toEqual([
      { type: "refused", requestId: "r9", code: "rate_limited", message: "Slow down" },
      { type: "finished", messageId: "a2", conversationId: null },
      { type: "notice", code: "invalid_json", message: "bad frame" },
    ]);
    expect(controller.streams.get("a2")?.status).toBe("error");
  });

  it("sends stop for a message", () => {
    const { controller, sent } = setup();
    controller.stop("a1");
    expect(sent).toEqual([{ type: "stop", message_id: "a1" }]);
  });
});
