import { describe, expect, it } from "vitest";
import type { StreamFrame } from "./protocol";
import { type StoredOutcome, StreamStore, applyStreamFrame, initialStream, isSilent, liveMetrics, settleStream } from "./stream";

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

describe("settleStream", () => {
  const stored = (fields: Partial<StoredOutcome>): StoredOutcome => ({ id: "m", content: "", status: "pending", ...fields });
  const streaming = () => run([delta(1, "Hel")]);

  it("ends a running stream with the answer history stored whole, and its figures", () => {
    const state = settleStream(
      streaming(),
      stored({
        status: "finished", content: "Hello there.", finish_reason: "length",
        prompt_tokens: 7, completion_tokens: 3, ttft_ms: 12, tokens_per_s: 40,
      }),
      900,
    ); // prettier-ignore
    expect(state.status).toBe("done");
    expect(state.text).toBe("Hello there.");
    expect(state.finishReason).toBe("length");
    expect(state.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3 });
    expect(liveMetrics(state, 900)).toEqual({ ttftMs: 12, tokensPerS: 40 });
  });

  it("ends it as cancelled or failed as history has it", () => {
    const cancelled = settleStream(streaming(), stored({ status: "cancelled", content: "Hel" }), 900);
    expect([cancelled.status, cancelled.finishReason, cancelled.text]).toEqual(["done", "cancelled", "Hel"]);
    const failed = settleStream(
      streaming(),
      stored({ status: "failed", error_code: "provider_error", error_message: "The model provider failed." }),
      900,
    );
    expect(failed.status).toBe("error");
    expect(failed.error).toEqual({ code: "provider_error", message: "The model provider failed." });
  });

  it("leaves a stream alone while history has the answer pending, and an ended stream always", () => {
    const running = streaming();
    expect(settleStream(running, stored({ status: "pending" }), 900)).toBe(running);
    const done = applyStreamFrame(running, { type: "done", message_id: "m", seq: 2, text: "Hello", finish_reason: "stop" }, 300);
    expect(settleStream(done, stored({ status: "finished", content: "other" }), 900)).toBe(done);
  });
});

describe("isSilent", () => {
  it("is true of a running stream quiet for the given time, or of one that never said when it spoke", () => {
    const state = run([delta(1, "a")]); // last token at 100
    expect(isSilent(state, 5_000, 10_000)).toBe(false);
    expect(isSilent(state, 10_100, 10_000)).toBe(true);
    expect(isSilent(initialStream("m", null), 0, 10_000)).toBe(true);
    const done = applyStreamFrame(state, { type: "done", message_id: "m", seq: 2, text: "a", finish_reason: "stop" }, 200);
    expect(isSilent(done, 60_000, 10_000)).toBe(false);
    expect(isSilent(undefined, 60_000, 10_000)).toBe(false);
  });
});

describe("StreamStore.settle", () => {
  it("ends only the running streams history has ended, and says which", () => {
    const store = new StreamStore();
    store.apply({ type: "delta", message_id: "a", seq: 1, text: "x" }, 0);
    store.apply({ type: "delta", message_id: "b", seq: 2, text: "y" }, 0);
    const seen: string[] = [];
    store.subscribe("a", () => seen.push("a"));
    store.subscribe("b", () => seen.push("b"));
    const ended = store.settle(
      [
        { id: "a", content: "xyz", status: "finished", finish_reason: "stop" },
        { id: "b", content: "", status: "pending" },
        { id: "c", content: "not streamed here", status: "finished" },
      ],
      50,
    );
    expect(ended).toEqual(["a"]);
    expect(seen).toEqual(["a"]);
    expect(store.get("a")?.text).toBe("xyz");
    expect(store.get("b")?.status).toBe("streaming");
    expect(store.get("c")).toBeUndefined();
  });
});
