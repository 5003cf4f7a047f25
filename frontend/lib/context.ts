// What of a long chat goes with a new prompt: the gateway refuses a prompt frame over its
// size limit (256 KiB by default) or with more than 1,000 messages, so a chat that has grown
// past them sends its system prompt and its most recent messages, as other chat apps do.
import type { ChatMessage } from "./protocol";

export interface ContextBudget {
  /** Messages at most, the system prompt included. */
  maxMessages: number;
  /** UTF-8 bytes of the messages as JSON at most (the rest of the frame is small). */
  maxBytes: number;
}

export const DEFAULT_BUDGET: ContextBudget = { maxMessages: 400, maxBytes: 200_000 };

const encoder = new TextEncoder();

function size(message: ChatMessage): number {
  return encoder.encode(JSON.stringify(message)).length + 1;
}

/** The system messages and the newest others that fit `budget`, in order; the last message
 * (the new prompt) always stays, even alone over budget (the gateway then says why). */
export function fitContext(messages: ChatMessage[], budget: ContextBudget = DEFAULT_BUDGET): ChatMessage[] {
  const system = messages.filter((m) => m.role === "system");
  const others = messages.filter((m) => m.role !== "system");
  let bytes = system.reduce((sum, m) => sum + size(m), 0);
  let count = system.length;
  let first = others.length;
  while (first > 0) {
    const next = others[first - 1]!;
    const grown = bytes + size(next);
    const isPrompt = first === others.length;
    if (!isPrompt && (grown > budget.maxBytes || count + 1 > budget.maxMessages)) break;
    bytes = grown;
    count += 1;
    first -= 1;
  }
  const kept = others.slice(first);
  // An answer without its question reads oddly to a model: start the window at a user message.
  while (kept.length > 1 && kept[0]!.role !== "user") kept.shift();
  return [...system, ...kept];
}
