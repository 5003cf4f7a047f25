// The WebSocket contract of docs/architecture.md section 7, as types.

export type Role = "system" | "user" | "assistant";

export interface ChatMessage {
  role: Role;
  content: string;
}

export interface GenerationParams {
  temperature?: number;
  max_tokens?: number;
}

export interface HelloFrame {
  type: "hello";
  token: string;
  session_id: string | null;
  last_seq: number | null;
}

export interface PromptFrame {
  type: "prompt";
  request_id: string;
  conversation_id: string | null;
  parent_id: string | null;
  /** Regenerate: answer this user message again, as a new answer beside the earlier ones. */
  prompt_message_id?: string;
  /** A new conversation started inside this project. */
  project_id?: string;
  model: string;
  messages: ChatMessage[];
  params: GenerationParams;
}

export type ClientFrame =
  | HelloFrame
  | PromptFrame
  | { type: "stop"; message_id: string }
  | { type: "ping" };

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
}

export interface Metrics {
  ttft_ms: number | null;
  tokens_per_s: number | null;
}

export type FinishReason = "stop" | "length" | "cancelled";

export interface ReadyFrame {
  type: "ready";
  session_id: string;
}
export interface PongFrame {
  type: "pong";
}
export interface AcceptedFrame {
  type: "accepted";
  request_id: string;
  conversation_id: string;
  message_id: string;
  /** The id history gives the user message (an extension of docs/architecture.md section 7; older gateways omit it). */
  prompt_message_id?: string;
}
export interface DeltaFrame {
  type: "delta";
  message_id: string;
  seq: number;
  text: string;
}
export interface SnapshotFrame {
  type: "snapshot";
  message_id: string;
  seq: number;
  text: string;
}
export interface RestartFrame {
  type: "restart";
  message_id: string;
  seq: number;
}
export interface DoneFrame {
  type: "done";
  message_id: string;
  seq: number;
  text: string;
  finish_reason: FinishReason;
  usage?: Usage | null;
  metrics?: Partial<Metrics> | null;
}
export interface ErrorFrame {
  type: "error";
  code: string;
  message: string;
  request_id?: string;
  message_id?: string;
  seq?: number;
}

export type StreamFrame = DeltaFrame | SnapshotFrame | RestartFrame | DoneFrame | ErrorFrame;
export type ServerFrame = ReadyFrame | PongFrame | AcceptedFrame | StreamFrame;

const SERVER_TYPES = new Set(["ready", "pong", "accepted", "delta", "snapshot", "restart", "done", "error"]);

/** Parses one text frame; null for anything that is not a known server frame. */
export function parseServerFrame(data: unknown): ServerFrame | null {
  if (typeof data !== "string") return null;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !SERVER_TYPES.has(type)) return null;
  return value as ServerFrame;
}

/** Whether a frame belongs to a stream and so carries the session's `seq`. */
export function isStreamFrame(frame: ServerFrame): frame is StreamFrame & { seq: number } {
  return typeof (frame as { seq?: unknown }).seq === "number" && "message_id" in frame;
}

/** Close codes after which reconnecting with the same token is pointless. */
export const CLOSE_AUTH = 4401;
export const CLOSE_FORBIDDEN = 4403;
export const CLOSE_TAKEN_OVER = 4409;
