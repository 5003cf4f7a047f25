import { describe, expect, it } from "vitest";
import type { StreamFrame } from "./protocol";
import { StreamStore, applyStreamFrame, initialStream, liveMetrics } from "./stream";

const delta = (seq: number, text: string): StreamFrame => ({ type: "delta", message_id: "m", seq, text });

function run(frames: StreamFrame[]) {
  let state = initialStream("m", 0);
  frames.forEach((frame, i) => (state = applyStreamFrame(state, frame, 100 * (i + 1))));
  return state;
}

describe("applyStreamFrame", () => {
  it("appends deltas and notes the first token time", () => {
    const state = run([delta(1, "Hel"), delta(2, "lo")]);
    expect(state.text).toBe("Hello");
    expect(state.status).toBe("streaming");
    expect(state.firstTokenAt).toBe(100);
  });

  it("replaces the text with a snapshot, then appends later deltas", () => {
    const state = run([delta(1, "Hel"), { type: "snapshot", message_id: "m", seq: 2, text: "Hello wor" }, delta(3, "ld")]);
    expect(state.text).toBe("Hello world");
  });

  it("drops the partial text on restart", () => {
    const state = run([delta(1, "abc"), { type: "restart", message_id: "m", seq: 2 }, delta(3, "x")]);
    expect(state.text).toBe("x");
  });

  it("takes the whole text and figures from done, and ignores late deltas", () => {
    const state = run([
      delta(1, "Hel"),
      {
        type: "done",
        message_id: "m",
        seq: 2,
        text: "Hello",
        finish_reason: "stop",
        usage: { prompt_tokens: 3, completion_tokens: 2 },
        metrics: { ttft_ms: 12, tokens_per_s: 40 },
      },
      delta(3, "junk"),
    ]);
    expect(state.text).toBe("Hello");
    expect(state.status).toBe("done");
    expect(state.usage).toEqual({ prompt_tokens: 3, completion_tokens: 2 });
    expect(liveMetrics(state, 1000)).toEqual({ ttftMs: 12, tokensPerS: 40 });
  });

  it("keeps the text so far when the generation fails", () => {
    const state = run([delta(1, "par"), { type: "error", message_id: "m", seq: 2, code: "provider_error", message: "boom" }]);
    expect(state.status).toBe("error");
    expect(state.text).toBe("par");
    expect(state.error).toEqual({ code: "provider_error", message: "boom" });
  });
});

describe("liveMetrics", () => {
  it("estimates TTFT from the send time and speed from the text", () => {
    let state = initialStream("m", 1000);
    state = applyStreamFrame(state, delta(1, "a".repeat(40)), 1250);
    state = applyStreamFrame(state, delta(2, "a".repeat(40)), 2250);
    expect(liveMetrics(state, 2250)).toEqual({ ttftMs: 250, tokensPerS: 20 });
  });

  it("has no TTFT for a stream this page did not start", () => {
    const state = applyStreamFrame(undefined, delta(1, "x"), 10);
    expect(liveMetrics(state, 20).ttftMs).toBeNull();
  });
});

describe("StreamStore", () => {
  it("notifies only the listeners of the message that changed", () => {
    const store = new StreamStore();
    const seen: string[] = [];
    store.subscribe("a", () => seen.push("a"));
    store.subscribe("b", () => seen.push("b"));
    store.apply({ type: "delta", message_id: "a", seq: 1, text: "x" }, 0);
    expect(seen).toEqual(["a"]);
    expect(store.get("a")?.text).toBe("x");
  });
});
