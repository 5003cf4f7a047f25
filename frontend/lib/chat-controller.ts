// Prompts and stops over the chat socket; stream frames into the StreamStore;
// request outcomes (accepted, refused, finished) to whoever listens.
import type { ChatSocket } from "./ws-client";
import type { ChatMessage, GenerationParams, ServerFrame } from "./protocol";
import { StreamStore } from "./stream";
import { newId } from "./utils";

export type ControllerEvent =
  | { type: "accepted"; requestId: string; conversationId: string; messageId: string; promptMessageId: string | null }
  | { type: "refused"; requestId: string; code: string; message: string }
  | { type: "finished"; messageId: string; conversationId: string | null }
  | { type: "notice"; code: string; message: string };

export interface PromptInput {
  conversationId: string | null;
  parentId: string | null;
  /** Regenerate: the user message to answer again (history stores no copy of the question). */
  promptMessageId?: string | null;
  /** A new chat started in this project: history files it there at once. */
  projectId?: string | null;
  model: string;
  messages: ChatMessage[];
  params: GenerationParams;
}

export class ChatController {
  readonly streams = new StreamStore();
  private readonly startedAt = new Map<string, number>();
  private readonly conversations = new Map<string, string>();
  private readonly listeners = new Set<(event: ControllerEvent) => void>();
  private readonly unsubscribe: () => void;

  constructor(
    readonly socket: Pick<ChatSocket, "send" | "onFrame">,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.unsubscribe = socket.onFrame((frame) => this.handle(frame));
  }

  dispose(): void {
    this.unsubscribe();
  }

  onEvent(listener: (event: ControllerEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  prompt(input: PromptInput, requestId: string = newId()): string {
    this.startedAt.set(requestId, this.now());
    this.socket.send({
      type: "prompt",
      request_id: requestId,
      conversation_id: input.conversationId,
      parent_id: input.parentId,
      ...(input.promptMessageId ? { prompt_message_id: input.promptMessageId } : {}),
      ...(input.projectId ? { project_id: input.projectId } : {}),
      model: input.model,
      messages: input.messages,
      params: input.params,
    });
    return requestId;
  }

  stop(messageId: string): void {
    this.socket.send({ type: "stop", message_id: messageId });
  }

  private handle(frame: ServerFrame): void {
    switch (frame.type) {
      case "accepted": {
        const started = this.startedAt.get(frame.request_id) ?? null;
        this.startedAt.delete(frame.request_id);
        this.conversations.set(frame.message_id, frame.conversation_id);
        if (!this.streams.get(frame.message_id)) this.streams.begin(frame.message_id, started);
        this.emit({
          type: "accepted",
          requestId: frame.request_id,
          conversationId: frame.conversation_id,
          messageId: frame.message_id,
          promptMessageId: frame.prompt_message_id ?? null,
        });
        return;
      }
      case "error":
        if (frame.message_id) {
          this.streams.apply(frame, this.now());
          this.finished(frame.message_id);
        } else if (frame.request_id) {
          this.startedAt.delete(frame.request_id);
          this.emit({ type: "refused", requestId: frame.request_id, code: frame.code, message: frame.message });
        } else {
          this.emit({ type: "notice", code: frame.code, message: frame.message });
        }
        return;
      case "delta":
      case "snapshot":
      case "restart":
        this.streams.apply(frame, this.now());
        return;
      case "done":
        this.streams.apply(frame, this.now());
        this.finished(frame.message_id);
        return;
      default:
        return;
    }
  }

  private finished(messageId: string): void {
    this.emit({ type: "finished", messageId, conversationId: this.conversations.get(messageId) ?? null });
  }

  private emit(event: ControllerEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
