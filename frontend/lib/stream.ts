// What the client shows of one answer while it streams: snapshots replace,
// restarts clear, deltas append, `done` brings the whole text and the figures.
import type { FinishReason, Metrics, StreamFrame, Usage } from "./protocol";
import type { TreeMessage } from "./tree";

export type StreamStatus = "waiting" | "streaming" | "done" | "error";

export interface StreamState {
  messageId: string;
  text: string;
  status: StreamStatus;
  /** When the prompt was sent (ms), if this page sent it: the base of live TTFT. */
  startedAt: number | null;
  firstTokenAt: number | null;
  lastTokenAt: number | null;
  finishReason: FinishReason | null;
  usage: Usage | null;
  metrics: Metrics | null;
  error: { code: string; message: string } | null;
}

export function initialStream(messageId: string, startedAt: number | null): StreamState {
  return {
    messageId,
    text: "",
    status: "waiting",
    startedAt,
    firstTokenAt: null,
    lastTokenAt: null,
    finishReason: null,
    usage: null,
    metrics: null,
    error: null,
  };
}

export function applyStreamFrame(state: StreamState | undefined, frame: StreamFrame, now: number): StreamState {
  const messageId = frame.message_id ?? state?.messageId ?? "";
  const current = state ?? initialStream(messageId, null);
  if (current.status === "done" || current.status === "error") {
    // A finished answer only changes with a new attempt.
    if (frame.type !== "restart") return current;
  }
  switch (frame.type) {
    case "delta":
      return {
        ...current,
        status: "streaming",
        text: current.text + frame.text,
        firstTokenAt: current.firstTokenAt ?? now,
        lastTokenAt: now,
      };
    case "snapshot":
      return { ...current, status: "streaming", text: frame.text, firstTokenAt: current.firstTokenAt ?? now, lastTokenAt: now };
    case "restart":
      return { ...initialStream(messageId, current.startedAt), status: "streaming" };
    case "done":
      return {
        ...current,
        status: "done",
        text: frame.text,
        finishReason: frame.finish_reason,
        usage: frame.usage ?? null,
        metrics: {
          ttft_ms: frame.metrics?.ttft_ms ?? null,
          tokens_per_s: frame.metrics?.tokens_per_s ?? null,
        },
        lastTokenAt: now,
      };
    case "error":
      return { ...current, status: "error", error: { code: frame.code, message: frame.message } };
  }
}

/** An answer as history stored it: what a stream that lost its end is settled from. */
export type StoredOutcome = Pick<
  TreeMessage,
  | "id"
  | "content"
  | "status"
  | "finish_reason"
  | "error_code"
  | "error_message"
  | "prompt_tokens"
  | "completion_tokens"
  | "ttft_ms"
  | "tokens_per_s"
>;

const FINISH_REASONS: readonly string[] = ["stop", "length", "cancelled"];

export function isRunning(state: StreamState | undefined): state is StreamState {
  return state?.status === "waiting" || state?.status === "streaming";
}

/** Whether a running stream has brought nothing for `quietMs` (or never told when it last did). */
export function isSilent(state: StreamState | undefined, now: number, quietMs: number): boolean {
  if (!isRunning(state)) return false;
  const last = state.lastTokenAt ?? state.startedAt;
  return last === null || now - last >= quietMs;
}

/** A running stream whose answer history has stored as ended ends that way: its end frame was
 * lost (written to a socket the network then dropped; a resume brings back only what is still
 * queued or running). History has every outcome, whole. Anything else is left as it is. */
export function settleStream(state: StreamState, stored: StoredOutcome, now: number): StreamState {
  if (!isRunning(state)) return state;
  if (stored.status === "failed") {
    return {
      ...state,
      status: "error",
      error: {
        code: stored.error_code ?? "generation_failed",
        message: stored.error_message ?? "The answer could not be generated.",
      },
    };
  }
  if (stored.status !== "finished" && stored.status !== "cancelled") return state;
  const reason = stored.status === "cancelled" ? "cancelled" : stored.finish_reason ?? "stop";
  const usage =
    stored.prompt_tokens != null && stored.completion_tokens != null
      ? { prompt_tokens: stored.prompt_tokens, completion_tokens: stored.completion_tokens }
      : null;
  return {
    ...state,
    status: "done",
    text: stored.content,
    finishReason: (FINISH_REASONS.includes(reason) ? reason : "stop") as FinishReason,
    usage,
    metrics: { ttft_ms: stored.ttft_ms ?? null, tokens_per_s: stored.tokens_per_s ?? null },
    lastTokenAt: now,
  };
}

/** Rough live figures while streaming (about 4 characters a token); `done` replaces them with the server's. */
export function liveMetrics(state: StreamState, now: number): { ttftMs: number | null; tokensPerS: number | null } {
  if (state.metrics) return { ttftMs: state.metrics.ttft_ms, tokensPerS: state.metrics.tokens_per_s };
  const ttftMs = state.startedAt !== null && state.firstTokenAt !== null ? state.firstTokenAt - state.startedAt : null;
  if (state.firstTokenAt === null) return { ttftMs, tokensPerS: null };
  const seconds = ((state.lastTokenAt ?? now) - state.firstTokenAt) / 1000;
  const tokens = state.text.length / 4;
  return { ttftMs, tokensPerS: seconds > 0.2 ? tokens / seconds : null };
}

/** Per-message stream states with per-message subscriptions, so a streaming answer re-renders only itself. */
export class StreamStore {
  private readonly states = new Map<string, StreamState>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly anyListeners = new Set<(messageId: string) => void>();

  get(messageId: string): StreamState | undefined {
    return this.states.get(messageId);
  }

  begin(messageId: string, startedAt: number | null): void {
    this.set(messageId, initialStream(messageId, startedAt));
  }

  apply(frame: StreamFrame, now: number): StreamState | undefined {
    if (!frame.message_id) return undefined;
    const next = applyStreamFrame(this.states.get(frame.message_id), frame, now);
    this.set(frame.message_id, next);
    return next;
  }

  /** Settles the running streams among `stored` (see `settleStream`): the ids of those it ended. */
  settle(stored: readonly StoredOutcome[], now: number): string[] {
    const ended: string[] = [];
    for (const message of stored) {
      const state = this.states.get(message.id);
      if (!isRunning(state)) continue;
      const next = settleStream(state, message, now);
      if (next === state) continue;
      this.set(message.id, next);
      ended.push(message.id);
    }
    return ended;
  }

  subscribe(messageId: string, listener: () => void): () => void {
    let set = this.listeners.get(messageId);
    if (!set) this.listeners.set(messageId, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  subscribeAll(listener: (messageId: string) => void): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  private set(messageId: string, state: StreamState): void {
    this.states.set(messageId, state);
    for (const listener of this.listeners.get(messageId) ?? []) listener();
    for (const listener of this.anyListeners) listener(messageId);
  }
}
